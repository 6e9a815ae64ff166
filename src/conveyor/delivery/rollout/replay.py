"""Replay: what the rollout controller would have decided on logged traffic, and when.

:func:`replay` reads everything logged for a period once (:class:`Logs`): the outcome
windows of a candidate and a stable version, the prediction log's outputs where it has
rows, and the labels received and shadow agreement, joined as the controller joins them
(:func:`.quality.quality_log`). It then walks the controller's step machine over them, one
look per outcome window. Each look is what the controller would have seen at that moment:
the step's analysis start and warm-up (:func:`.stepping.analysis_start`), the windows
complete by then, judged by the policy's judge with labels and agreement by the
controller's own :func:`.evidence.step_verdict`, and the action it would have taken
(:func:`.stepping.action`: fail → roll back; pass held for the interval → next step, the
last one promotes; inconclusive too long → pause; an A/B test or shadow that ran its
duration → finished). Nothing is written: the replay only reads the store and the logs.

The judge is told the share each window's traffic was *really* routed with (the canary's
share of that window's requests), not the policy's step weight: the logged requests were
routed as they were, whatever this policy would have set, and the error test's null
hypothesis is "an error falls on the canary as often as its share of requests". The
timeline shows both. Example::

    result = replay(ctx, "churn", since, until, DeployConfig(steps=[5, 50, 100]))
    result.outcome, result.decided_at       # ("rolled_back", datetime(...))
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.delivery.rollout.evidence import judge_windows, step_verdict
from conveyor.delivery.rollout.quality import QualityLog, quality_log
from conveyor.delivery.rollout.service import steps_of
from conveyor.delivery.rollout.stepping import action, analysis_start, is_last, next_window
from conveyor.errors import InvalidValue, NotFoundError
from conveyor.monitoring.outcomes import WINDOW_S, outcomes
from conveyor.store.entities import OutcomeWindow

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.config import DeployConfig
    from conveyor.context import Context
    from conveyor.delivery.analysis.judge import Window

Scores = dict[tuple[int, datetime], np.ndarray]
"""Logged outputs per (version, outcome window start)."""


@dataclass(frozen=True)
class ReplayVerdict:
    """One look: the step and weight the policy assumed, the share really routed, the
    verdict, what the controller would have done, and the evidence as the controller stores it.
    """

    at: datetime
    step: int
    weight: float
    share: float | None
    decision: str
    action: str  # hold | next step | promote | roll back | pause | finished
    explanation: str
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "at": self.at.isoformat()}


@dataclass(frozen=True)
class Replay:
    """The whole replay: who was compared, under which policy, every look, the outcome."""

    model: str
    candidate: int
    stable: int
    since: datetime
    until: datetime
    policy: dict[str, Any]
    predictions: str  # where the prediction metric's data came from
    verdicts: list[ReplayVerdict]
    outcome: str  # promoted | rolled_back | paused | undecided
    decided_at: datetime | None

    def first(self, decision: str) -> datetime | None:
        """When the first verdict with ``decision`` came, if any."""
        return next((v.at for v in self.verdicts if v.decision == decision), None)

    def as_dict(self) -> dict[str, Any]:
        fail = self.first("fail")
        return {
            "model": self.model,
            "candidate": self.candidate,
            "stable": self.stable,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "policy": self.policy,
            "predictions": self.predictions,
            "outcome": self.outcome,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "first_fail": fail.isoformat() if fail else None,
            "promoted_at": self.decided_at.isoformat()
            if self.outcome == "promoted" and self.decided_at
            else None,
            "verdicts": [v.as_dict() for v in self.verdicts],
        }


@dataclass(frozen=True)
class Logs:
    """Everything logged for the period, read once: the candidate's outcome windows (from
    the window before the period), the stable version's, the prediction log's outputs, and
    the labels and shadow agreement."""

    canary: list[OutcomeWindow]
    stable: list[OutcomeWindow]
    scores: Scores
    quality: QualityLog


def replay(
    ctx: Context,
    model: str,
    since: datetime,
    until: datetime,
    policy: DeployConfig,
    *,
    candidate: int | None = None,
    stable: int | None = None,
) -> Replay:
    """Walk the controller's step machine over ``model``'s logged traffic in ``[since,
    until)``. ``candidate`` and ``stable`` default to the versions of the model's rollout
    begun last before ``until``, else to the newest version with traffic and the busiest
    other one."""
    _check(model, since, until, policy)
    start = next_window(since)
    candidate, stable = _arms(ctx, model, start, until, candidate, stable)
    before = start - timedelta(seconds=WINDOW_S)  # was the candidate answering already?
    rows = _predictions(ctx, model, start, until, (candidate, stable))
    logs = Logs(
        outcomes(ctx, model, before, until, version=candidate),
        outcomes(ctx, model, start, until, version=stable),
        _logged_scores(rows),
        quality_log(ctx.artifacts_url, model, candidate, stable, start, until, rows),
    )
    steps = steps_of(policy)
    looks: list[ReplayVerdict] = []
    step, began, at = 0, start, start + timedelta(seconds=WINDOW_S)
    outcome, decided = "undecided", None
    while at <= until and decided is None:
        look = _look(policy, candidate, steps, step, began, at, logs)
        looks.append(look)
        if look.action in ("promote", "roll back", "pause", "finished"):
            outcome = {"promote": "promoted", "roll back": "rolled_back"}.get(look.action, "paused")
            decided = at
        elif look.action == "next step":
            step, began = step + 1, at
        at += timedelta(seconds=WINDOW_S)
    return Replay(
        model,
        candidate,
        stable,
        start,
        until,
        {
            "strategy": policy.strategy,
            "judge": policy.judge,
            "steps": list(steps),
            "interval_s": policy.interval_s,
            "inconclusive_intervals": policy.inconclusive_intervals,
            "duration_s": policy.duration_s,
        },
        "prediction log" if logs.scores else "outcome windows",
        looks,
        outcome,
        decided,
    )


def _check(model: str, since: datetime, until: datetime, policy: DeployConfig) -> None:
    if until <= since:
        raise InvalidValue(
            f"replay of {model!r}: --to {until.isoformat()} is not after --from "
            f"{since.isoformat()}",
            hint="give a period that ends after it starts",
        )
    if policy.strategy == "bluegreen":
        raise InvalidValue(
            f"replay of {model!r}: the policy's strategy is bluegreen, which switches at once "
            "and is never judged on traffic",
            hint="set deploy.strategy to canary, ab or shadow in the policy file",
        )


def _look(
    policy: DeployConfig,
    candidate: int,
    steps: Sequence[float],
    step: int,
    began: datetime,
    at: datetime,
    logs: Logs,
) -> ReplayVerdict:
    """One look at ``at`` of the step begun at ``began``, as the controller makes it: the
    windows complete by then, judged from the step's analysis start (:mod:`.stepping`),
    with the labels arrived and the agreement logged by then."""
    start, windows = None, []
    if policy.strategy != "shadow":
        before = began - timedelta(seconds=WINDOW_S)
        start = analysis_start(_span(logs.canary, before, at), began)
        if start.since is not None:
            span = (_span(logs.canary, start.since, at), _span(logs.stable, start.since, at))
            windows = _judged(*span, steps[step], logs.scores)
    verdict, evidence = step_verdict(
        policy.judge, policy.strategy, candidate, start, windows, logs.quality.at(began, at), at
    )
    since = None if start is None else start.since
    todo = action(
        policy.strategy,
        verdict.decision,
        held_s=None if since is None else (at - since).total_seconds(),
        waited_s=(at - began).total_seconds(),
        interval_s=policy.interval_s,
        inconclusive_intervals=policy.inconclusive_intervals,
        duration_s=policy.duration_s,
        last=is_last(steps, step),
    )
    return ReplayVerdict(
        at,
        step,
        steps[step],
        _realised(windows),
        verdict.decision,
        todo,
        verdict.explanation,
        evidence,
    )


def _arms(
    ctx: Context,
    model: str,
    since: datetime,
    until: datetime,
    candidate: int | None,
    stable: int | None,
) -> tuple[int, int]:
    """The (candidate, stable) pair to compare, as given or found (see :func:`replay`)."""
    if candidate is not None and stable is not None:
        return candidate, stable
    rollouts = [r for r in ctx.store.rollouts.of_model(model) if r.created_at < until]
    if rollouts and rollouts[0].stable is not None:
        found = rollouts[0]
        return candidate or found.candidate, stable or found.stable  # type: ignore[return-value]
    requests: dict[int, int] = defaultdict(int)
    for window in outcomes(ctx, model, since, until):
        requests[window.version] += window.requests
    newest = candidate or max(requests, default=None)
    others = [v for v in requests if v != newest]
    base = stable or max(others, key=lambda v: requests[v], default=None)
    if newest is None or base is None:
        raise NotFoundError(
            f"replay of {model!r}: no rollout before {until.isoformat()} and outcome windows "
            f"of {len(requests)} version(s) from {since.isoformat()}: nothing to compare",
            hint="name the versions with --candidate and --stable, or widen --from/--to",
        )
    return newest, base


def _span(windows: Sequence[OutcomeWindow], began: datetime, at: datetime) -> list[OutcomeWindow]:
    """The windows wholly inside ``[began, at)``."""
    return [
        w for w in windows if w.start >= began and w.start + timedelta(seconds=w.window_s) <= at
    ]


def _judged(
    canary: list[OutcomeWindow], stable: list[OutcomeWindow], weight: float, logged: Scores
) -> list[Window]:
    """The controller's judge windows, each with the share its traffic was routed with and,
    where the prediction log has rows, the logged outputs as the arms' predictions."""
    windows = judge_windows(canary, stable, weight / 100)
    starts = sorted({w.start for w in [*canary, *stable]})
    versions = (canary[0].version if canary else None, stable[0].version if stable else None)
    changed = []
    for start, window in zip(starts, windows, strict=True):
        c, s = window.canary.requests, window.stable.requests
        share = c / (c + s) if c and s else window.share
        arms = {}
        if logged:
            for arm, version in zip(("canary", "stable"), versions, strict=True):
                scores = logged.get((version, start)) if version is not None else None
                arms[arm] = dataclasses.replace(getattr(window, arm), scores=scores)
        changed.append(dataclasses.replace(window, share=share, **arms))
    return changed


def _realised(windows: Sequence[Window]) -> float | None:
    canary = sum(w.canary.requests for w in windows)
    total = canary + sum(w.stable.requests for w in windows)
    return canary / total if total else None


def _predictions(
    ctx: Context, model: str, since: datetime, until: datetime, versions: tuple[int, int]
) -> pd.DataFrame:
    """The prediction log's rows of the two versions in the period, read once for the
    predictions metric and for labels and agreement; empty without a log."""
    from conveyor.monitoring.predictions import read_predictions
    from conveyor.monitoring.predlog_schema import VERSION

    rows = read_predictions(ctx.artifacts_url, model, since, until)
    return rows if rows.empty else rows[rows[VERSION].isin(versions)]


def _logged_scores(rows: pd.DataFrame) -> Scores:
    """The outputs of the primary rows per (version, window start); empty without a log.
    Class labels become their index among the labels logged, as :mod:`.evidence` does."""
    from conveyor.monitoring.predlog_schema import OUTPUT, SHADOW_OF, TIME, VERSION

    if rows.empty or OUTPUT not in rows.columns:
        return {}
    rows = rows[rows[SHADOW_OF].isna()]
    if rows.empty:
        return {}
    outputs = rows[OUTPUT]
    try:
        values = outputs.astype(float).to_numpy()
    except (TypeError, ValueError):
        labels = sorted(set(outputs.astype(str)))
        values = outputs.astype(str).map(labels.index).astype(float).to_numpy()
    seconds = rows[TIME].map(lambda t: t.timestamp()).to_numpy()
    starts = (seconds // WINDOW_S * WINDOW_S).astype(int)
    grouped: dict[tuple[int, datetime], list[float]] = defaultdict(list)
    for version, start, value in zip(rows[VERSION].to_numpy(), starts, values, strict=True):
        moment = datetime.fromtimestamp(int(start), tz=UTC)
        grouped[(int(version), moment)].append(float(value))
    return {key: np.asarray(found) for key, found in grouped.items()}


__all__ = ["Replay", "ReplayVerdict", "replay"]
