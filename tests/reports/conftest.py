"""Checks built by hand, with synthetic predictions, for the report tests.

Each case is a ``(CheckResult, DataFrame)`` pair as ``conveyor check`` would store them:
binary with and without a champion, regression, multiclass, and a check that failed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conveyor.evaluation.results import (
    Calibration,
    CalibrationBin,
    CheckResult,
    ConfusionMatrix,
    Evaluation,
    GateResult,
    Latency,
    ModelRef,
    SliceMetrics,
    ValidationSummary,
)

Case = tuple[CheckResult, pd.DataFrame]
N = 400
CANDIDATE = ModelRef(uri="models:/churn/4", model_id="m4", run_id="r4", name="churn", version=4)
CHAMPION = ModelRef(uri="models:/churn/3", model_id="m3", run_id="r3", name="churn", version=3)


def binary_predictions(*, champion: bool = True, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, N)
    frame = pd.DataFrame(
        {
            "y_true": np.where(y == 1, "yes", "no"),
            "candidate_score": np.clip(0.35 * y + rng.uniform(0, 0.65, N), 0, 1),
            "sex": rng.choice(["F", "M"], N),
            "region": rng.choice(["north", "south", "east"], N),
        }
    )
    frame["candidate_pred"] = np.where(frame["candidate_score"] > 0.5, "yes", "no")
    if champion:
        frame["champion_score"] = np.clip(0.25 * y + rng.uniform(0, 0.75, N), 0, 1)
        frame["champion_pred"] = np.where(frame["champion_score"] > 0.5, "yes", "no")
    return frame


def _calibration(shift: float) -> Calibration:
    bins = [
        CalibrationBin(i / 5, (i + 1) / 5, 80, i / 5 + 0.1, min(1.0, i / 5 + 0.1 + shift))
        for i in range(5)
    ]
    return Calibration(bins=bins, ece=abs(shift), brier=0.18 + shift)


def _binary_eval(auc: float, accuracy: float, shift: float) -> Evaluation:
    slices = [
        SliceMetrics("sex", "F", 205, {"roc_auc": auc - 0.01, "accuracy": accuracy}),
        SliceMetrics("sex", "M", 195, {"roc_auc": auc + 0.01, "accuracy": accuracy - 0.02}),
        SliceMetrics("region", "north", 140, {"roc_auc": auc, "accuracy": accuracy}),
        SliceMetrics("region", "south", 130, {"roc_auc": auc - 0.03, "accuracy": accuracy}),
        SliceMetrics("region", "east", 130, {"roc_auc": auc + 0.02, "accuracy": accuracy}),
    ]
    return Evaluation(
        task="binary",
        n_rows=N,
        metrics={"roc_auc": auc, "accuracy": accuracy, "f1": accuracy - 0.05},
        slices=slices,
        confusion=ConfusionMatrix(["no", "yes"], [[170, 30], [40, 160]]),
        calibration=_calibration(shift),
        latency=Latency(calls=200, p50_ms=1.234, p95_ms=2.5, p99_ms=3.9),
        model_size_bytes=1_234_567,
        positive_label="yes",
    )


def _distribution(center: float, seed: int = 1) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(center, 0.01, 2000)]


def comparison_gate(*, status: str = "passed", metric: str = "accuracy") -> GateResult:
    low, high = (0.004, 0.046) if status == "passed" else (-0.031, 0.012)
    return GateResult(
        name=f"{metric} vs champion",
        kind="comparison",
        status=status,  # type: ignore[arg-type]
        metric=metric,
        detail=f"{metric}: candidate 0.825 vs champion 0.8; lower bound {low:+.4g}",
        value=low,
        operator=">",
        threshold=-0.01,
        test="paired bootstrap (2000 resamples, 95% percentile interval)",
        n=N,
        interval=(low, high),
        p_value=0.0004 if status == "passed" else 0.31,
        evidence={
            "candidate": 0.825,
            "champion": 0.8,
            "difference": 0.025,
            "improvement": 0.025,
            "distribution": _distribution((low + high) / 2),
            "margin": 0.01,
            "mode": "non-inferiority",
            "confidence": 0.95,
            "higher_is_better": True,
            "mcnemar": {
                "b": 31,
                "c": 21,
                "n": 52,
                "statistic": 1.73,
                "p_value": 0.0004,
                "test": "exact",
            },
        },
    )


def binary_gates(*, champion: bool) -> list[GateResult]:
    threshold = GateResult(
        name="roc_auc >= 0.8",
        kind="threshold",
        status="passed",
        metric="roc_auc",
        detail="roc_auc 0.8712 >= 0.8",
        value=0.8712,
        operator=">=",
        threshold=0.8,
        n=N,
        evidence={"value": 0.8712},
    )
    fairness = GateResult(
        name="demographic_parity by sex",
        kind="fairness",
        status="passed",
        metric="demographic_parity",
        detail="demographic_parity by sex: rates from 0.48 to 0.52, gap 0.04 (within 0.1)",
        value=0.04,
        operator="<=",
        threshold=0.1,
        test="largest gap between groups of at least 30 rows",
        n=400,
        evidence={
            "groups": [
                {"group": "F", "n": 205, "rate": 0.48},
                {"group": "M", "n": 195, "rate": 0.52},
            ],
            "excluded": [{"group": "X", "n": 3}],
            "gap": 0.04,
        },
    )
    latency = GateResult(
        name="p95 latency <= 10 ms",
        kind="operational",
        status="passed",
        metric="latency_p95_ms",
        detail="p95 2.5 ms, budget 10 ms",
        value=2.5,
        operator="<=",
        threshold=10.0,
        evidence={"p50_ms": 1.234, "p95_ms": 2.5},
    )
    size = GateResult(
        name="model size <= 50 MB",
        kind="operational",
        status="passed",
        metric="model_size_mb",
        detail="model files take 1.23 MB, budget 50 MB",
        value=1.234567,
        operator="<=",
        threshold=50.0,
        evidence={"size_bytes": 1_234_567},
    )
    compare = comparison_gate() if champion else skipped_comparison()
    return [threshold, compare, fairness, latency, size]


def skipped_comparison() -> GateResult:
    return GateResult(
        name="accuracy vs champion",
        kind="comparison",
        status="skipped",
        metric="accuracy",
        detail="skipped: no model version of churn has the alias champion",
    )


def validation() -> list[ValidationSummary]:
    return [
        ValidationSummary("train", "data/train.csv", "schemas/train.yaml", 1600, True, 0),
        ValidationSummary(
            "holdout",
            "data/holdout.csv",
            "schemas/train.yaml",
            N,
            False,
            1,
            [{"column": "age", "check": "not_null", "failing_rows": 3, "message": "3 missing"}],
        ),
    ]


def binary_check(*, champion: bool = True) -> CheckResult:
    return CheckResult(
        passed=True,
        candidate=CANDIDATE,
        candidate_eval=_binary_eval(0.8712, 0.825, 0.03),
        holdout="data/holdout.csv",
        holdout_digest="blake3:0123456789abcdef0123456789abcdef",
        target="churned",
        gates=binary_gates(champion=champion),
        champion=CHAMPION if champion else None,
        champion_eval=_binary_eval(0.8401, 0.8, 0.06) if champion else None,
        champion_alias="champion" if champion else None,
        champion_note=None if champion else "no model version of churn has the alias champion",
        validation=validation(),
        lineage=["model churn/4", "└── run r4 (stage train)", "    └── data/train.csv blake3:ab12"],
        run_id="r9",
        created_at="2026-11-22T14:00:00+00:00",
        git_commit="0123456789abcdef0123456789abcdef01234567",
    )


def regression_case() -> Case:
    rng = np.random.default_rng(2)
    y = rng.normal(50, 10, N)
    frame = pd.DataFrame(
        {
            "y_true": y,
            "candidate_pred": y + rng.normal(0, 3, N),
            "champion_pred": y + rng.normal(0, 4, N),
            "size": rng.choice(["small", "large"], N),
        }
    )

    def evaluation(rmse: float) -> Evaluation:
        slices = [
            SliceMetrics("size", "small", 200, {"rmse": rmse - 0.2, "mae": rmse * 0.8}),
            SliceMetrics("size", "large", 200, {"rmse": rmse + 0.2, "mae": rmse * 0.8}),
        ]
        return Evaluation("regression", N, {"rmse": rmse, "mae": rmse * 0.8, "r2": 0.9}, slices)

    gate = GateResult(
        name="rmse vs champion",
        kind="comparison",
        status="passed",
        metric="rmse",
        detail="rmse: candidate 3.01 vs champion 3.98; improvement +0.97",
        value=0.7,
        operator=">",
        threshold=-0.1,
        test="paired bootstrap (2000 resamples, 95% percentile interval)",
        n=N,
        interval=(0.7, 1.25),
        evidence={
            "candidate": 3.01,
            "champion": 3.98,
            "difference": -0.97,
            "improvement": 0.97,
            "distribution": _distribution(-0.97, seed=3),
            "margin": 0.1,
            "mode": "non-inferiority",
            "confidence": 0.95,
            "higher_is_better": False,
        },
    )
    check = replace(
        binary_check(),
        candidate_eval=evaluation(3.01),
        champion_eval=evaluation(3.98),
        gates=[gate],
        target="price",
    )
    return check, frame


def multiclass_case() -> Case:
    rng = np.random.default_rng(4)
    labels = ["cat", "dog", "bird"]
    y = rng.choice(labels, N)
    frame = pd.DataFrame({"y_true": y, "candidate_pred": y, "champion_pred": y})
    matrix = [[120, 10, 5], [8, 110, 12], [4, 6, 125]]

    def evaluation(accuracy: float) -> Evaluation:
        return Evaluation(
            "multiclass",
            N,
            {"accuracy": accuracy, "macro_f1": accuracy - 0.02},
            [SliceMetrics("y_true", v, 130, {"accuracy": accuracy}) for v in labels],
            confusion=ConfusionMatrix(labels, matrix),
        )

    gate = comparison_gate(metric="accuracy")
    check = replace(
        binary_check(),
        candidate_eval=evaluation(0.89),
        champion_eval=evaluation(0.86),
        gates=[gate],
    )
    return check, frame


def failed_case() -> Case:
    check = binary_check()
    gates = [comparison_gate(status="failed"), *check.gates[2:]]
    return replace(check, passed=False, gates=gates), binary_predictions()


@pytest.fixture(scope="session")
def binary() -> Case:
    return binary_check(), binary_predictions()


@pytest.fixture(scope="session")
def no_champion() -> Case:
    return binary_check(champion=False), binary_predictions(champion=False)


@pytest.fixture(scope="session")
def regression() -> Case:
    return regression_case()


@pytest.fixture(scope="session")
def multiclass() -> Case:
    return multiclass_case()


@pytest.fixture(scope="session")
def failed() -> Case:
    return failed_case()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    """``rendered(case, fmt, image_base)``: the report's path, written once per session."""
    from conveyor.reports.render import write_report

    cache = {}

    def render(case: Case, fmt: str = "md", image_base: str | None = None):
        key = (id(case), fmt, image_base)
        if key not in cache:
            out = tmp_path_factory.mktemp("report")
            cache[key] = write_report(*case, out, fmt=fmt, image_base=image_base)  # type: ignore[arg-type]
        return cache[key]

    return render
