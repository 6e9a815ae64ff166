"""What every command needs: the project, the settings, and a console."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from conveyor.project import Project, load_project
from conveyor.settings import Settings


def project_and_settings() -> tuple[Project, Settings]:
    """Load the project around the working directory and the environment's settings."""
    return load_project(), Settings.from_env()


def print_json(data: Any) -> None:
    """Write ``data`` as strict JSON on stdout, for scripts (``--json``).

    NaN and infinities, which strict parsers reject, are written as the strings
    ``"nan"``, ``"inf"`` and ``"-inf"``.
    """
    sys.stdout.write(strict_json(data))


def strict_json(data: Any) -> str:
    """``data`` as indented strict JSON text (see :func:`print_json`), ending in a newline."""
    return json.dumps(_finite(data), indent=2, default=str, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
