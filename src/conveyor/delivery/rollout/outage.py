"""Saying that the controller's passes fail, without flooding the log.

The controller passes every few seconds; a store that is down at 3 a.m. would otherwise put
a warning in the log on every pass. :class:`OutageLog` says it once when passes start
failing (with the error), then at most once per ``repeat_s`` while they go on failing (how
long, how many passes, the latest error), and once when a pass succeeds again::

    rollout controller: store unreachable; every rollout stays where it is, retrying
      every 5 s: the metadata database ... is not reachable or is busy: ...
    rollout controller: store still unreachable after 60 s (13 failed passes): ...
    rollout controller: store reachable again after 75 s (15 failed passes)

A failure that is not the store's and aborts the whole pass (outside any one model's
rollout) is said the same way, in its own words.

One rollout that cannot be moved (its evidence unreadable, its judge raising) fails only its
own model's part of the pass; :class:`ModelFaults` says that the same way, per model, and
the other models' rollouts go on::

    rollout controller: churn's rollout 3f9c0a1b2c4d fails its passes and stays where it is
      (inconclusive); other models' rollouts go on: prediction log file ... could not be read
    rollout controller: churn's rollout 3f9c0a1b2c4d still fails after 60 s (13 failed
      passes): ...
    rollout controller: churn's rollout 3f9c0a1b2c4d passes again after 120 s (24 failed
      passes); now progressing
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
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

    def failed(self, exc: Exception) -> None:
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
                said(exc),
                exc_info=unexpected(exc),
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
                said(exc),
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


@dataclass
class _Run:
    """A model's run of failing passes: when it began, when it was last said, how many."""

    rollout: str
    began: datetime
    said: datetime
    failures: int = 1


class ModelFaults:
    """Logs, per model, a run of passes that failed on that model's rollout alone: its start
    (with the traceback of an unexpected error), a reminder every ``repeat_s`` seconds of
    ``clock`` time, its end."""

    def __init__(
        self, log: logging.Logger, clock: Callable[[], datetime], *, repeat_s: float = REPEAT_S
    ) -> None:
        self.log, self.clock, self.repeat_s = log, clock, repeat_s
        self._runs: dict[str, _Run] = {}

    def failing(self) -> set[str]:
        """The models whose last pass failed."""
        return set(self._runs)

    def failed(self, model: str, rollout: str, exc: Exception) -> None:
        """``model``'s pass over ``rollout`` failed with ``exc``."""
        now = self.clock()
        run = self._runs.get(model)
        if run is None:
            self._runs[model] = _Run(rollout, now, now)
            self.log.warning(
                "rollout controller: %s's rollout %s fails its passes and stays where it is "
                "(inconclusive); other models' rollouts go on: %s",
                model,
                rollout,
                said(exc),
                exc_info=unexpected(exc),
            )
            return
        run.failures += 1
        if (now - run.said).total_seconds() >= self.repeat_s:
            run.said = now
            self.log.warning(
                "rollout controller: %s's rollout %s still fails after %.0f s (%d failed "
                "passes): %s",
                model,
                run.rollout,
                (now - run.began).total_seconds(),
                run.failures,
                said(exc),
            )

    def passed(self, model: str, status: str) -> None:
        """``model``'s pass went through (its rollout now ``status``; "ended or led
        elsewhere" when it was not passed over): the end of its failures, if any."""
        run = self._runs.pop(model, None)
        if run is None:
            return
        self.log.info(
            "rollout controller: %s's rollout %s passes again after %.0f s (%d failed passes); "
            "now %s",
            model,
            run.rollout,
            (self.clock() - run.began).total_seconds(),
            run.failures,
            status,
        )


def said(exc: Exception) -> str:
    """``exc`` in words: a ConveyorError's own message, else its type and message."""
    return str(exc) if isinstance(exc, ConveyorError) else f"{type(exc).__name__}: {exc}"


def unexpected(exc: Exception) -> bool:
    """Whether ``exc`` is no ConveyorError (a bug, most likely): its traceback is logged."""
    return not isinstance(exc, ConveyorError)
