"""The ``conveyor`` executable: answers the two hottest questions before loading the CLI.

``conveyor status`` and a ``conveyor run`` with nothing to do are what people (and CI) type
most, and the answer comes from the lock file and the stat cache in tens of milliseconds.
Loading typer and click alone costs ~50 ms, so for exactly these forms, with only stage
names as arguments, the answer is given here; every other form, any option, any error and
any run that has work to do goes to the full CLI in :mod:`conveyor.cli.main`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

UP_TO_DATE_RUN = "Everything is up to date; nothing to run. (--force runs it anyway)"


def quick_answer(argv: Sequence[str]) -> int | None:
    """Exit code if ``argv`` was answered here; None to hand it to the full CLI."""
    if not argv or argv[0] not in ("status", "run"):
        return None
    targets = tuple(argv[1:])
    if any(arg.startswith("-") for arg in targets):
        return None
    from conveyor.errors import ConveyorError
    from conveyor.pipeline.status import pipeline_status, status_text
    from conveyor.project import load_project

    try:
        project = load_project()
        states = pipeline_status(project, targets)
    except ConveyorError:
        return None  # the full CLI reports it, with its formatting
    if argv[0] == "status":
        sys.stdout.write(status_text(states))
        return 0
    from conveyor.pipeline.children import left_behind

    # Stage processes a killed run left may still change an out: only the full runner,
    # under the run lock, ends them before it answers "up to date".
    if all(state.up_to_date for state in states) and not left_behind(project.state_dir):
        sys.stdout.write(UP_TO_DATE_RUN + "\n")
        return 0
    return None


def entrypoint() -> None:
    """Console-script entry point."""
    argv = sys.argv[1:]
    code = quick_answer(argv)
    if code is None:
        from conveyor.cli.main import main

        code = main(argv)
    sys.exit(code)
