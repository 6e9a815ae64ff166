"""What every command needs: the project, the settings, and a console."""

from __future__ import annotations

import json
import sys
from typing import Any

from conveyor.project import Project, load_project
from conveyor.settings import Settings


def project_and_settings() -> tuple[Project, Settings]:
    """Load the project around the working directory and the environment's settings."""
    return load_project(), Settings.from_env()


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout, for scripts (``--json``)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")
