"""One analysis step's verdict from its metrics, and two baseline judges to compare with.

Every judge takes the rollout's windows so far (each a :class:`Window`: both arms over
the same span of time and traffic) and returns a :class:`Verdict`:

- :class:`ConveyorJudge`: the sequential tests of this package, combined by
  :func:`combine`: fail if any metric fails; pass only if every configured metric passes
  with its minimum sample; otherwise inconclusive (no traffic is never a pass).
- :class:`FlaggerJudge`: Flagger's fixed thresholds per interval (success rate >= 99%,
  p99 <= 500 ms); a failed check halts advancement and ``threshold`` failed checks roll
  back. It never compares with the stable version.
- :class:`KayentaJudge`: Kayenta's Mann-Whitney classifier per metric on the current
  step's windows, scored ``100 * passed / counted``; a critical metric's failure scores 0;
  a score of at least ``pass_score`` passes, anything lower fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from conveyor.delivery.analysis.counts import CountWindow, ErrorRateTest
from conveyor.delivery.analysis.labels import AccuracyTest, LabelWindow
from conveyor.delivery.analysis.latency import LatencyTest, LatencyWindow
from conveyor.delivery.analysis.mann_whitney import Direction, MannWhitneyTest
from conveyor.delivery.analysis.predictions import PredictionShiftTest, bin_scores, score_edges
from conveyor.delivery.analysis.results import Decision, MetricResult

KAYENTA_CHUNKS = 10  # rate metrics become a series of this many points per arm and window


@dataclass(frozen=True, eq=False)
class ArmSample:
    """One arm's requests in a window: per request, error or not, latency, prediction."""

    errors: np.ndarray  # bool
    latencies_ms: np.ndarray
    scores: np.ndarray | None = None  # the model's output (a score or a class)
    correct: np.ndarray | None = None  # 0/1 for the labelled requests

    @property
    def requests(self) -> int:
        return int(self.errors.size)


@dataclass(frozen=True, eq=False)
class Window:
    """Both arms over the same window; ``share`` the canary's routing weight."""

    canary: ArmSample
    stable: ArmSample
    share: float


@dataclass(frozen=True)
class Verdict:
    """A step's decision with every metric's result as evidence."""

    decision: Decision
    evidence: tuple[MetricResult, ...]
    explanation: str


class Judge(Protocol):
    """What a rollout asks of a judge: a verdict on its windows so far; ``name`` says which."""

    name: str

    def judge(self, windows: Sequence[Window]) -> Verdict: ...


def combine(results: Sequence[MetricResult]) -> Verdict:
    """Fail if any metric fails; pass only if all pass; otherwise inconclusive."""
    failed = [r.metric for r in results if r.decision == "fail"]
    waiting = [r.metric for r in results if r.decision == "inconclusive"]
    if failed:
        return Verdict("fail", tuple(results), f"failed on {', '.join(failed)}")
    if not results or waiting:
        names = ", ".join(waiting) or "no metric configured"
        return Verdict("inconclusive", tuple(results), f"waiting for {names}")
    return Verdict("pass", tuple(results), f"all {len(results)} metrics pass")


class ConveyorJudge:
    """The sequential tests on the whole rollout so far; ``None`` leaves a metric out."""

    name = "conveyor"

    def __init__(
        self,
        *,
        errors: ErrorRateTest | None = None,
        latency: LatencyTest | None = None,
        predictions: PredictionShiftTest | None = None,
        accuracy: AccuracyTest | None = None,
    ) -> None:
        self.errors, self.latency = errors, latency
        self.predictions, self.accuracy = predictions, accuracy

    def judge(self, windows: Sequence[Window]) -> Verdict:
        results: list[MetricResult] = []
        if self.errors is not None:
            results.append(self.errors.evaluate([_counts(w) for w in windows]))
        if self.latency is not None:
            results.append(self.latency.evaluate([_latencies(w) for w in windows]))
        if self.predictions is not None:
            results.append(self.predictions.evaluate(*_prediction_counts(windows)))
        if self.accuracy is not None:
            results.append(self.accuracy.evaluate([_labels(w) for w in windows]))
        return combine(results)


def _counts(w: Window) -> CountWindow:
    c, s = w.canary, w.stable
    return CountWindow(c.requests, int(c.errors.sum()), s.requests, int(s.errors.sum()), w.share)


def _latencies(w: Window) -> LatencyWindow:
    return LatencyWindow.from_latencies(w.canary.latencies_ms, w.stable.latencies_ms, w.share)


def _labels(w: Window) -> LabelWindow:
    c = np.zeros(0) if w.canary.correct is None else w.canary.correct
    s = np.zeros(0) if w.stable.correct is None else w.stable.correct
    return LabelWindow(c.size, int(c.sum()), s.size, int(s.sum()), w.share)


def _prediction_counts(windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
    canary = np.concatenate([_scores(w.canary) for w in windows] or [np.zeros(0)])
    stable = np.concatenate([_scores(w.stable) for w in windows] or [np.zeros(0)])
    edges = score_edges(stable) if stable.size else np.zeros(0)
    return bin_scores(canary, edges), bin_scores(stable, edges)


def _scores(arm: ArmSample) -> np.ndarray:
    return np.zeros(0) if arm.scores is None else np.asarray(arm.scores, dtype=float)


def _p99(values: np.ndarray) -> float:
    return float(np.quantile(values, 0.99)) if values.size else float("nan")


class FlaggerJudge:
    """Fixed thresholds per interval; ``threshold`` failed checks roll back."""

    name = "flagger"

    def __init__(
        self, *, min_success: float = 0.99, max_p99_ms: float = 500.0, threshold: int = 5
    ) -> None:
        self.min_success, self.max_p99_ms, self.threshold = min_success, max_p99_ms, threshold

    def check(self, w: Window) -> MetricResult:
        """One interval's check of the canary alone (no traffic: "no values found")."""
        c = w.canary
        success = 1 - float(c.errors.mean()) if c.requests else float("nan")
        p99 = _p99(c.latencies_ms)
        ok = c.requests > 0 and success >= self.min_success and p99 <= self.max_p99_ms
        return MetricResult(
            metric="flagger checks",
            test="fixed thresholds (success rate, p99)",
            statistic=success,
            threshold=self.min_success,
            n_canary=c.requests,
            n_stable=w.stable.requests,
            min_sample=1,
            decision="pass" if ok else "fail",
            explanation=f"success {success:.2%} (>= {self.min_success:.0%}), "
            f"p99 {p99:.0f} ms (<= {self.max_p99_ms:.0f} ms)",
        )

    def judge(self, windows: Sequence[Window]) -> Verdict:
        checks = [self.check(w) for w in windows]
        failed = sum(1 for c in checks if c.decision == "fail")
        if failed >= self.threshold:
            return Verdict("fail", tuple(checks), f"{failed} failed checks")
        if checks and checks[-1].decision == "pass":
            return Verdict("pass", tuple(checks), checks[-1].explanation)
        return Verdict("inconclusive", tuple(checks), f"{failed} failed checks, halted")


def _chunk_rates(values: np.ndarray) -> np.ndarray:
    """A rate metric as Kayenta sees it: one point per chunk of the window (per "minute")."""
    chunks = [c for c in np.array_split(np.asarray(values, dtype=float), KAYENTA_CHUNKS) if c.size]
    return np.array([c.mean() for c in chunks], dtype=float)


class KayentaJudge:
    """Mann-Whitney per metric on the current step's windows, scored as Kayenta does.

    ``critical``: a critical metric's High/Low scores 0 at once. ``max_values`` caps each
    arm's values per metric by an even subsample, as Kayenta reads metric series rather
    than every request.
    """

    name = "kayenta"

    def __init__(
        self, *, pass_score: float = 75.0, critical: bool = True, max_values: int = 1000
    ) -> None:
        self.pass_score, self.critical, self.max_values = pass_score, critical, max_values

    def _series(
        self, windows: Sequence[Window]
    ) -> list[tuple[str, Direction, np.ndarray, np.ndarray]]:
        def joined(pick: str, arm: str) -> np.ndarray:
            parts = [getattr(getattr(w, arm), pick) for w in windows]
            parts = [np.asarray(p, dtype=float) for p in parts if p is not None]
            return np.concatenate(parts) if parts else np.zeros(0)

        def rates(pick: str, arm: str) -> np.ndarray:
            parts = [getattr(getattr(w, arm), pick) for w in windows]
            return np.concatenate(
                [_chunk_rates(p) for p in parts if p is not None and p.size] or [np.zeros(0)]
            )

        return [
            ("error rate", "increase", rates("errors", "canary"), rates("errors", "stable")),
            ("latency", "increase", joined("latencies_ms", "canary"),
             joined("latencies_ms", "stable")),
            ("predictions", "either", joined("scores", "canary"), joined("scores", "stable")),
            ("accuracy", "decrease", rates("correct", "canary"), rates("correct", "stable")),
        ]  # fmt: skip

    def _cap(self, values: np.ndarray) -> np.ndarray:
        if values.size <= self.max_values:
            return values
        picked: np.ndarray = values[np.linspace(0, values.size - 1, self.max_values).astype(int)]
        return picked

    def judge(self, windows: Sequence[Window]) -> Verdict:
        step = [w for w in windows if windows and w.share == windows[-1].share]
        results: list[MetricResult] = []
        for metric, direction, canary, stable in self._series(step):
            test = MannWhitneyTest(metric=metric, direction=direction)
            results.append(test.evaluate(self._cap(canary), self._cap(stable)))
        counted = [r for r in results if r.decision != "inconclusive"]
        if not counted:
            return Verdict("inconclusive", tuple(results), "no data")
        failed = [r.metric for r in counted if r.decision == "fail"]
        score = 100.0 * (len(counted) - len(failed)) / len(counted)
        if failed and self.critical:
            score = 0.0
        decision: Decision = "pass" if score >= self.pass_score else "fail"
        return Verdict(
            decision, tuple(results), f"score {score:.0f} (pass >= {self.pass_score:.0f})"
        )
