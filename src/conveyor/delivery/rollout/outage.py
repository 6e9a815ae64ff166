"""Saying that the controller's passes fail, without flooding the log.

The controller passes every few seconds; a store that is down at 3 a.m. would otherwise put
a warning in the log on every pass. :class:`OutageLog` says it once when passes start
failing (with the error), then at most once per ``repeat_s`` while they go on failing (how
long, how many passes, the latest error), and once when a pass succeeds again::

    rollout controller: store unreachable; every rollout stays where it is, retrying
      every 5 s: the metadata database ... is not reachable or is busy: ...
    rollout controller: store still unreachable after 60 s (13 failed passes): ...
    rollout controller: store reachable again after 75 s (15 failed passes)

A failure that is not the store's (a :class:`~conveyor.errors.ConveyorError` of another
kind aborting the pass) is said the same way, in its own words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from conveyor.errors import ConveyorError, StoreError

REPEAT_S = 60.0


class OutageLog:
    """Logs a run of failing passes on ``log``: its start, a reminder every ``repeat_s``
    seconds of ``clock`` time, its end."""

    def __init__(
        self,
        log: logging.Logger,
        clock: Callable[[], datetime],
        *,
        poll_s: float,
        repeat_s: float = REPEAT_S,
    ) -> None:
        self.log, self.clock, self.poll_s, self.repeat_s = log, clock, poll_s, repeat_s
        self._began: datetime | None = None
        self._said = clock()
        self._failures = 0
        self._store = True

    @property
    def failing(self) -> bool:
        """Whether the last pass failed."""
        return self._began is not None

    def failed(self, exc: ConveyorError) -> None:
        """A pass failed with ``exc``."""
        now = self.clock()
        self._failures += 1
        if self._began is None:
            self._began, self._said, self._store = now, now, isinstance(exc, StoreError)
            what = "store unreachable" if self._store else "a pass failed"
            self.log.warning(
                "rollout controller: %s; every rollout stays where it is, retrying every %g s: %s",
                what,
                self.poll_s,
                exc,
            )
            return
        if (now - self._said).total_seconds() >= self.repeat_s:
            self._said = now
            what = "store still unreachable" if self._store else "passes still failing"
            self.log.warning(
                "rollout controller: %s after %.0f s (%d failed passes): %s",
                what,
                (now - self._began).total_seconds(),
                self._failures,
                exc,
            )

    def succeeded(self) -> None:
        """A pass went through: the end of an outage, if one was going on."""
        if self._began is None:
            return
        what = "store reachable again" if self._store else "passes succeed again"
        self.log.info(
            "rollout controller: %s after %.0f s (%d failed passes)",
            what,
            (self.clock() - self._began).total_seconds(),
            self._failures,
        )
        self._began, self._failures = None, 0
