"""What every command needs: the context (settings, project, principal, stores), and JSON."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from conveyor.context import Context
from conveyor.project import Project, load_project
from conveyor.settings import Settings


def project_and_settings() -> tuple[Project, Settings]:
    """Load the project around the working directory and the environment's settings."""
    return load_project(), Settings.from_env()


def command_context(*, project_required: bool = False) -> Context:
    """The context of a command: the CLI's composition root.

    Outside a project a command works only on a database named by ``CONVEYOR_DB_URL``;
    with neither, it says so rather than creating a database in the working directory.
    Nothing is created here: the stores open when the command first uses them.
    """
    ctx = Context.resolve(Settings.from_env())
    if ctx.root is None and (project_required or ctx.settings.db_url is None):
        load_project()  # raises ProjectNotFound, with its hint
    _OPENED.append(ctx)
    return ctx


_OPENED: list[Context] = []


def close_contexts() -> None:
    """Release the stores of every context a command built (``main`` calls this at the end,
    so a PostgreSQL connection never outlives its command)."""
    while _OPENED:
        _OPENED.pop().close()


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
