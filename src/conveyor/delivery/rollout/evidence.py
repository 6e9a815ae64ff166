"""What the judge sees: the outcome windows of canary and stable, as judge windows.

:func:`judge_windows` is the only way the controller feeds the judge, and it takes plain
:class:`~conveyor.store.entities.OutcomeWindow` lists, so a replay of logged traffic (or a
test) calls it with windows from anywhere. Counts become per-request arrays: errors are the
model's (5xx and timeouts; a 4xx is the client's), a latency is its bin's geometric middle,
a numeric prediction its value bin's middle and a class label its index among the labels
both arms gave. The judge's tests bin them again on their own grids, so nothing is lost
beyond the outcome bins' own resolution.

:func:`step_verdict` is the whole judgement of a step, the judge named by ``deploy.judge``
(:func:`make_judge`) on those windows plus labels and agreement, with the evidence as
stored: the controller and replay both call it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from conveyor.delivery.analysis.counts import ErrorRateTest
from conveyor.delivery.analysis.judge import (
    ArmSample,
    ConveyorJudge,
    FlaggerJudge,
    Judge,
    KayentaJudge,
    Verdict,
    Window,
)
from conveyor.delivery.analysis.latency import LatencyTest
from conveyor.delivery.analysis.predictions import PredictionShiftTest
from conveyor.delivery.rollout.quality import Quality, quality_results, with_quality
from conveyor.delivery.rollout.stepping import AnalysisStart
from conveyor.errors import InvalidValue
from conveyor.monitoring.outcomes import latency_bounds, merge, value_bounds
from conveyor.store.entities import OutcomeWindow


def judge_windows(
    canary: Sequence[OutcomeWindow], stable: Sequence[OutcomeWindow], share: float
) -> list[Window]:
    """One judge window per outcome window start that either arm has, in time order;
    ``share`` is the canary's routing share (0.05 for 5%)."""
    by_start: dict[datetime, dict[str, list[OutcomeWindow]]] = defaultdict(
        lambda: {"canary": [], "stable": []}
    )
    for arm, windows in (("canary", canary), ("stable", stable)):
        for window in windows:
            by_start[window.start][arm].append(window)
    labels = sorted({label for w in [*canary, *stable] for label in w.labels})
    return [
        Window(_arm(arms["canary"], labels), _arm(arms["stable"], labels), share)
        for _, arms in sorted(by_start.items())
    ]


def default_judge(windows: Sequence[Window]) -> ConveyorJudge:
    """Errors and latency always; predictions when either arm recorded any."""
    predicted = any(w.canary.scores is not None or w.stable.scores is not None for w in windows)
    return ConveyorJudge(
        errors=ErrorRateTest(),
        latency=LatencyTest(),
        predictions=PredictionShiftTest() if predicted else None,
    )


JUDGES = {
    "conveyor": (
        "Conveyor's anytime-valid sequential tests of error rate, latency and predictions, "
        "canary against stable on every window since the step's analysis began; a step "
        "passes when every metric passes with its minimum sample, fails when any fails"
    ),
    "kayenta": (
        "Kayenta's fixed-sample Mann-Whitney U test per metric (error rate, latency, "
        "predictions), canary against stable on the step's windows; a step passes with a "
        "score of at least 75 of 100 (a baseline to compare with)"
    ),
    "flagger": (
        "Flagger's fixed thresholds on the canary alone, per 10 s window: success rate >= "
        "99% and p99 latency <= 500 ms; 5 failed checks fail the step (a baseline to compare "
        "with)"
    ),
}
"""What each judge ``deploy.judge`` names tests, in one line (the rollout report's header)."""


def make_judge(name: str, windows: Sequence[Window]) -> Judge:
    """The judge ``deploy.judge`` names: ``conveyor`` (:func:`default_judge`, the sequential
    tests), ``kayenta`` (Mann-Whitney per metric on the step's windows) or ``flagger``
    (fixed thresholds per window), each with its defaults."""
    if name == "conveyor":
        return default_judge(windows)
    if name == "kayenta":
        return KayentaJudge()
    if name == "flagger":
        return FlaggerJudge()
    raise InvalidValue(
        f"unknown rollout judge {name!r}: expected conveyor, kayenta or flagger",
        hint="set deploy.judge in conveyor.yaml, or --judge",
    )


def step_verdict(
    judge: str,
    strategy: str,
    candidate: int,
    start: AnalysisStart | None,
    windows: Sequence[Window],
    quality: Quality,
    now: datetime,
) -> tuple[Verdict, dict[str, Any]]:
    """A step's verdict and its evidence as stored, the same in the controller and replay:
    ``judge`` on ``windows`` (inconclusive while :meth:`AnalysisStart.waiting`; a shadow is
    judged on agreement and labels only), with labels and agreement from ``quality``."""
    shadow = strategy == "shadow"
    waiting = None if start is None else start.waiting(candidate, now)
    if shadow:
        base = Verdict("inconclusive", (), "shadow: judged on agreement and labels")
    elif waiting is not None:
        base = Verdict("inconclusive", (), waiting)
    else:
        base = make_judge(judge, windows).judge(windows)
    verdict = with_quality(base, quality_results(quality, shadow=shadow))
    evidence = {**as_evidence(verdict, windows, judge), **quality.counts()}
    if start is not None:
        evidence["analysis"] = start.as_dict()
    return verdict, evidence


def as_evidence(
    verdict: Verdict, windows: Sequence[Window], judge: str = "conveyor"
) -> dict[str, Any]:
    """The verdict's evidence as stored and shown: the judge, each metric's result and the
    arms' sizes."""
    return {
        "judge": judge,
        "requests": {
            "canary": sum(w.canary.requests for w in windows),
            "stable": sum(w.stable.requests for w in windows),
        },
        "windows": len(windows),
        "metrics": [
            {
                "metric": r.metric,
                "test": r.test,
                "decision": r.decision,
                "statistic": _finite(r.statistic),
                "threshold": _finite(r.threshold),
                "n_canary": r.n_canary,
                "n_stable": r.n_stable,
                "min_sample": r.min_sample,
                "explanation": r.explanation,
            }
            for r in verdict.evidence
        ],
    }


def _arm(windows: Sequence[OutcomeWindow], labels: list[str]) -> ArmSample:
    if not windows:
        return ArmSample(np.zeros(0, dtype=bool), np.zeros(0))
    total = merge(windows)
    errors = np.zeros(total.requests, dtype=bool)
    errors[: min(total.requests, total.model_errors + total.timeouts)] = True
    latencies = np.repeat(
        [_middle(*latency_bounds(i)) * 1000 for i in range(len(total.latency))],
        list(total.latency),
    )
    scores = _scores(total, labels)
    return ArmSample(errors, latencies, scores)


def _scores(total: OutcomeWindow, labels: list[str]) -> np.ndarray | None:
    if total.values:
        bins = sorted(total.values)
        middles = [math.copysign(_middle(*value_bounds(b)), b) for b in bins]
        return np.repeat(middles, [total.values[b] for b in bins])
    if total.labels:
        return np.repeat(
            [float(labels.index(label)) for label in total.labels], list(total.labels.values())
        )
    return None


def _middle(low: float, high: float) -> float:
    """A representative value of ``[low, high)`` (``low >= 0``): the geometric middle, the
    low edge of the open top bin, half the high edge of the bin that starts at zero."""
    if math.isinf(high):
        return low
    return math.sqrt(low * high) if low > 0 else high / 2


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
