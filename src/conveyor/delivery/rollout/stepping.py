"""When a step's analysis begins, and what follows a verdict: pure rules the controller and
replay share, so a replay decides what the live controller would have.

**When the analysis begins.** The controller writes a step's table at ``began``; a gateway
routes to the candidate only once it has read the table, loaded the version and warmed it,
seconds later, more under load. Judging from ``began`` would count those seconds as the
candidate's (no traffic) and its first, cold requests (model load, first calls) against its
latency. So a step's analysis begins at the first outcome window, wholly after ``began``, in
which the candidate answered; and when the candidate answered nothing in the window before
that one (it was cold: its first traffic since it was routed), that first window is left out
as its *warm-up*, and the analysis begins one window later::

    began  12:00:03   table written (step 0, 5%)
           12:00:10   window: no canary request          waiting for traffic
           12:00:20   window: no canary request          waiting for traffic
           12:00:30   window: the canary's first answers  warm-up, left out
           12:00:40   window: judged                      analysis and interval from here

A candidate already answering when the step began (a later step, a resumed rollout) has no
warm-up: its analysis begins at the first window after ``began``.

**What follows a verdict** (:func:`action`): fail → roll back; pass, held for the interval
since the analysis began → next step (the last promotes); inconclusive for
``inconclusive_intervals`` intervals → pause, counted from the analysis start, or from the
step's start while waiting for traffic; an A/B test or a shadow that ran its duration →
finished (paused for a human).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from conveyor.monitoring.outcomes import WINDOW_S
from conveyor.store.entities import OutcomeWindow

Action = Literal["hold", "next step", "promote", "roll back", "pause", "finished"]


def next_window(moment: datetime) -> datetime:
    """The start of the first outcome window that begins at or after ``moment``."""
    seconds = moment.timestamp()
    return datetime.fromtimestamp(math.ceil(seconds / WINDOW_S) * WINDOW_S, tz=UTC)


@dataclass(frozen=True)
class AnalysisStart:
    """Where a step's analysis begins: ``since`` (None while waiting for traffic)."""

    began: datetime  # the step's table was written
    first_routed: datetime | None  # the first window in which the candidate answered
    warmup: bool  # that window is left out: the candidate answered nothing just before

    @property
    def since(self) -> datetime | None:
        """The start of the first window judged, or None while waiting for traffic."""
        if self.first_routed is None:
            return None
        return self.first_routed + timedelta(seconds=WINDOW_S if self.warmup else 0)

    def waiting(self, candidate: int, now: datetime) -> str | None:
        """Why no window can be judged yet (waiting for traffic, warming up), or None."""
        if self.first_routed is None:
            return (
                f"waiting for traffic: v{candidate} has answered no request since the step "
                f"began at {self.began:%H:%M:%S} (a gateway loads and warms it first)"
            )
        since = self.since
        assert since is not None
        if now < since + timedelta(seconds=WINDOW_S):
            return (
                f"warming up: v{candidate} first answered in the window from "
                f"{self.first_routed:%H:%M:%S}, left out as its warm-up; judged from "
                f"{since:%H:%M:%S}"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        """As stored in a verdict's evidence (``analysis``)."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "step_began": iso(self.began),
            "first_routed": iso(self.first_routed),
            "warmup_window": iso(self.first_routed if self.warmup else None),
            "judged_from": iso(self.since),
        }


def analysis_start(canary: Sequence[OutcomeWindow], began: datetime) -> AnalysisStart:
    """Where the analysis of a step begun at ``began`` starts, from the candidate's windows
    (which must include the window before :func:`next_window` of ``began``)."""
    first = next_window(began)
    answered = {w.start for w in canary if w.requests > 0}
    routed = min((start for start in answered if start >= first), default=None)
    if routed is None:
        return AnalysisStart(began, None, False)
    cold = routed - timedelta(seconds=WINDOW_S) not in answered
    return AnalysisStart(began, routed, cold)


def is_last(steps: Sequence[float], step: int) -> bool:
    """Whether passing ``step`` promotes: no step follows, or the next one is 100%."""
    following = step + 1
    return following >= len(steps) or steps[following] >= 100


def action(
    strategy: str,
    decision: str,
    *,
    held_s: float | None,
    waited_s: float,
    interval_s: float,
    inconclusive_intervals: int,
    duration_s: float,
    last: bool,
) -> Action:
    """What the controller does after a verdict. ``held_s``: seconds since the analysis
    began (None while waiting for traffic); ``waited_s``: since the step began; ``last``:
    whether the next step would be 100% (passing it promotes)."""
    if decision == "fail":
        return "roll back"
    if strategy == "shadow":
        return "finished" if waited_s >= duration_s else "hold"
    limit = interval_s * inconclusive_intervals
    if decision == "inconclusive":
        clock = waited_s if held_s is None else held_s
        if clock >= limit and (strategy != "ab" or held_s is None):
            return "pause"
    if strategy == "ab":
        return "finished" if held_s is not None and held_s >= duration_s else "hold"
    if decision == "pass" and held_s is not None and held_s >= interval_s:
        return "promote" if last else "next step"
    return "hold"


__all__ = ["Action", "AnalysisStart", "action", "analysis_start", "is_last", "next_window"]
