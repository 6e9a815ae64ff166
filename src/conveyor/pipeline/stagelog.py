"""A stage's output: what ``conveyor logs RUN STAGE`` prints.

A stage's command writes stdout and stderr to one file (``2>&1``), so its log holds both
in the exact order they were written: what it printed, then the traceback it raised, as a
terminal would have shown them. Two files (or two pipes read by a thread) cannot give
that order: writes that come close together on both streams arrive together, and which
came first is lost. Python stages run with ``PYTHONUNBUFFERED=1`` (unless the user sets
it) so that their prints are written when made, not when the buffer fills or the
interpreter exits, after the traceback.

Runs recorded before this kept stdout and stderr apart; their order is unknown, so their
log is stdout, then stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conveyor.store.entities import StageRun

__all__ = ["UNBUFFERED", "stage_output"]

UNBUFFERED = {"PYTHONUNBUFFERED": "1"}
"""Added to each stage's environment (the user's own setting wins)."""


def stage_output(record: StageRun, read: Callable[[str], bytes]) -> bytes:
    """What the stage wrote (``read`` fetches an artifact by digest); ``b""`` for nothing."""
    if record.log_digest is not None:
        digests: list[str | None] = [record.log_digest]
    else:  # recorded before the combined log
        digests = [record.stdout_digest, record.stderr_digest]
    return b"".join(read(digest) for digest in digests if digest is not None)
