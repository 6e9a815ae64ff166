"""Latency (slower only), labels, agreement, and how a step's verdict is combined."""

from __future__ import annotations

import numpy as np

from conveyor.delivery.analysis.judge import (
    ArmSample,
    ConveyorJudge,
    FlaggerJudge,
    KayentaJudge,
    Window,
    combine,
)
from conveyor.delivery.analysis.labels import AccuracyTest, AgreementTest, LabelWindow
from conveyor.delivery.analysis.latency import LatencyTest, LatencyWindow
from conveyor.delivery.analysis.results import MetricResult


def _lognormal(rng: np.random.Generator, n: int, factor: float = 1.0) -> np.ndarray:
    return 50.0 * factor * np.exp(0.5 * rng.standard_normal(n))


def test_slower_canary_fails_and_faster_canary_does_not() -> None:
    rng = np.random.default_rng(1)
    test = LatencyTest(min_sample=500)
    slower = [LatencyWindow.from_latencies(_lognormal(rng, 1000, 1.3), _lognormal(rng, 1000), 0.5)]
    faster = [LatencyWindow.from_latencies(_lognormal(rng, 1000, 0.7), _lognormal(rng, 1000), 0.5)]
    assert test.evaluate(slower).decision == "fail"
    assert test.evaluate(faster).decision == "pass"  # different, but not slower


def test_latency_false_alarms_stay_below_alpha_under_continuous_looks() -> None:
    test = LatencyTest(min_sample=10**9)
    rng = np.random.default_rng(2)
    alarms = 0
    for _ in range(100):
        windows = [
            LatencyWindow.from_latencies(_lognormal(rng, 20), _lognormal(rng, 60), 0.25)
            for _ in range(30)
        ]
        alarms += test.evaluate(windows).statistic <= 0.05
    assert alarms / 100 <= 0.05 + 0.04


def test_accuracy_drop_fails_and_agreement_bounds_decide() -> None:
    drop = AccuracyTest().evaluate([LabelWindow(3000, 2550, 3000, 2760, share=0.5)])
    assert drop.decision == "fail"
    assert "wrong predictions" in drop.explanation
    test = AgreementTest(required=0.95)
    assert test.evaluate([(990, 1000)]).decision == "pass"
    assert test.evaluate([(900, 1000)]).decision == "fail"
    assert test.evaluate([(19, 20)]).decision == "inconclusive"
    assert test.evaluate([]).decision == "inconclusive"


def _result(metric: str, decision: str) -> MetricResult:
    return MetricResult(metric, "t", 0.0, 0.0, 1, 1, 1, decision, "")  # type: ignore[arg-type]


def test_combine_fails_on_any_fail_and_passes_only_when_all_pass() -> None:
    assert combine([_result("a", "pass"), _result("b", "fail")]).decision == "fail"
    assert combine([_result("a", "pass"), _result("b", "inconclusive")]).decision == (
        "inconclusive"
    )
    assert combine([_result("a", "pass"), _result("b", "pass")]).decision == "pass"
    assert combine([]).decision == "inconclusive"


def test_judges_share_one_interface_and_no_traffic_is_never_a_pass() -> None:
    rng = np.random.default_rng(3)
    empty = ArmSample(np.zeros(0, dtype=bool), np.zeros(0))
    stable = ArmSample(rng.random(500) < 0.01, _lognormal(rng, 500))
    windows = [Window(empty, stable, 0.0)]
    judges = [ConveyorJudge(errors=AccuracyTest().counts_), FlaggerJudge(), KayentaJudge()]
    # Flagger counts "no values found" as a failed check: halted, rolled back at `threshold`.
    assert [j.judge(windows).decision for j in judges] == ["inconclusive"] * 3
    assert FlaggerJudge(threshold=1).judge(windows).decision == "fail"


def test_latency_with_no_windows_at_all_is_inconclusive() -> None:
    """No traffic yet (the rollout controller's first look): inconclusive, not a crash."""
    from conveyor.delivery.analysis.latency import LatencyTest

    assert LatencyTest().evaluate([]).decision == "inconclusive"
