"""The plain, JSON-ready results that evaluation, gates and reports pass between them.

``conveyor evaluate`` produces an :class:`Evaluation`; ``conveyor check`` evaluates the
candidate and the champion on the same holdout, decides every gate (:class:`GateResult`) and
keeps it all in a :class:`CheckResult`, stored on the run as ``check.json`` beside
``predictions.parquet`` (one row per holdout row: ``y_true``, ``candidate_pred``,
``candidate_score``, ``champion_pred``, ``champion_score``, and the slice and sensitive
columns). ``conveyor report`` renders only from those two files, so a report can be rebuilt
for any past check without loading a model.

Every number that decides something travels with its evidence: the test, the sample size,
the interval, the threshold and the decision in one sentence.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
GateStatus = Literal["passed", "failed", "skipped"]

CHECK_FILE = "check.json"
PREDICTIONS_FILE = "predictions.parquet"


@dataclass(frozen=True)
class SliceMetrics:
    """The metrics of the rows where ``column`` holds ``value`` (or falls in a bin)."""

    column: str
    value: str  # the category, or a bin such as "[10.2, 13.7)"
    n: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class ConfusionMatrix:
    """``matrix[i][j]``: rows whose true label is ``labels[i]`` predicted as ``labels[j]``."""

    labels: list[str]
    matrix: list[list[int]]


@dataclass(frozen=True)
class CalibrationBin:
    """One bin of a reliability diagram (binary classification)."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    fraction_positive: float


@dataclass(frozen=True)
class Calibration:
    """Reliability of predicted probabilities: bins, expected calibration error, Brier score."""

    bins: list[CalibrationBin]
    ece: float
    brier: float


@dataclass(frozen=True)
class Latency:
    """Single-row predict latency, measured over ``calls`` calls after a warm-up."""

    calls: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Evaluation:
    """What one model scored on one data set."""

    task: Task
    n_rows: int
    metrics: dict[str, float]
    slices: list[SliceMetrics] = field(default_factory=list)
    confusion: ConfusionMatrix | None = None
    calibration: Calibration | None = None
    latency: Latency | None = None
    model_size_bytes: int | None = None
    positive_label: str | None = None  # binary tasks: the class whose probability is scored

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinities become None)."""
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        """Read back what :meth:`as_dict` wrote."""
        calibration = data.get("calibration")
        confusion = data.get("confusion")
        latency = data.get("latency")
        return cls(
            task=data["task"],
            n_rows=data["n_rows"],
            metrics=_floats(data["metrics"]),
            slices=[
                SliceMetrics(s["column"], s["value"], s["n"], _floats(s["metrics"]))
                for s in data.get("slices", [])
            ],
            confusion=ConfusionMatrix(**confusion) if confusion else None,
            calibration=Calibration(
                bins=[CalibrationBin(**b) for b in calibration["bins"]],
                ece=calibration["ece"],
                brier=calibration["brier"],
            )
            if calibration
            else None,
            latency=Latency(**latency) if latency else None,
            model_size_bytes=data.get("model_size_bytes"),
            positive_label=data.get("positive_label"),
        )


@dataclass(frozen=True)
class GateResult:
    """One gate's decision and the evidence behind it.

    ``value`` is the statistic the gate decided on (the metric, the lower bound of the
    interval of a difference, the largest gap between groups, the p95 latency...), compared
    with ``threshold`` by ``operator``. ``detail`` says the decision in one sentence a person
    can read in a pull request.
    """

    name: str  # "roc_auc >= 0.95", "roc_auc vs champion", "demographic_parity by sex"
    kind: str  # validation, threshold, comparison, fairness, robustness, operational, or any
    status: GateStatus
    metric: str
    detail: str
    value: float | None = None
    operator: str | None = None  # ">=", "<=", ">", "<"
    threshold: float | None = None
    test: str | None = None  # "paired bootstrap (2000 resamples, 95% percentile interval)"
    n: int | None = None  # the sample size the decision rests on
    interval: tuple[float, float] | None = None
    p_value: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True unless the gate failed (a skipped gate does not block)."""
        return self.status != "failed"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinities become None)."""
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        """Read back what :meth:`as_dict` wrote."""
        values = dict(data)
        if values.get("interval") is not None:
            values["interval"] = tuple(values["interval"])
        return cls(**values)


@dataclass(frozen=True)
class ModelRef:
    """Which model was evaluated: its URI and, when known, registered name/version and run."""

    uri: str
    model_id: str | None = None
    run_id: str | None = None
    name: str | None = None
    version: int | None = None

    @property
    def label(self) -> str:
        """``churn/3`` for a registered version, else the URI."""
        if self.name and self.version is not None:
            return f"{self.name}/{self.version}"
        return self.uri


@dataclass(frozen=True)
class ValidationSummary:
    """The outcome of validating one data set, as the report shows it."""

    name: str
    data: str
    schema: str | None
    rows: int
    passed: bool
    failed_checks: int
    failures: list[dict[str, Any]] = field(default_factory=list)  # column, check, rows failing


@dataclass(frozen=True)
class CheckResult:
    """Everything ``conveyor check`` decided, with its evidence."""

    passed: bool
    candidate: ModelRef
    candidate_eval: Evaluation
    holdout: str  # path of the holdout data, relative to the project
    holdout_digest: str
    target: str
    gates: list[GateResult]
    champion: ModelRef | None = None
    champion_eval: Evaluation | None = None
    champion_alias: str | None = None
    champion_note: str | None = None  # why there is no comparison, when there is none
    validation: list[ValidationSummary] = field(default_factory=list)
    lineage: list[str] = field(default_factory=list)  # lines of the candidate's lineage tree
    run_id: str | None = None
    created_at: str | None = None
    git_commit: str | None = None
    promoted: dict[str, Any] | None = None  # {"name", "version", "alias"} after --promote
    recorded: dict[str, Any] | None = None  # {"name", "version", "status"}: a failed candidate

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinities become None)."""
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """Read back what :meth:`as_dict` wrote."""
        champion_eval = data.get("champion_eval")
        champion = data.get("champion")
        return cls(
            passed=data["passed"],
            candidate=ModelRef(**data["candidate"]),
            candidate_eval=Evaluation.from_dict(data["candidate_eval"]),
            holdout=data["holdout"],
            holdout_digest=data["holdout_digest"],
            target=data["target"],
            gates=[GateResult.from_dict(g) for g in data["gates"]],
            champion=ModelRef(**champion) if champion else None,
            champion_eval=Evaluation.from_dict(champion_eval) if champion_eval else None,
            champion_alias=data.get("champion_alias"),
            champion_note=data.get("champion_note"),
            validation=[ValidationSummary(**v) for v in data.get("validation", [])],
            lineage=list(data.get("lineage", [])),
            run_id=data.get("run_id"),
            created_at=data.get("created_at"),
            git_commit=data.get("git_commit"),
            promoted=data.get("promoted"),
            recorded=data.get("recorded"),
        )


@dataclass(frozen=True)
class CheckOutcome:
    """The decided check and the per-row predictions it rests on."""

    result: CheckResult
    predictions: pd.DataFrame


def _as_dict(result: Any) -> dict[str, Any]:
    plain: dict[str, Any] = _plain(dataclasses.asdict(result))
    return plain


def _plain(value: Any) -> Any:
    """Tuples to lists, NaN/inf to None, numpy scalars to Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _floats(values: dict[str, Any]) -> dict[str, float]:
    return {k: (math.nan if v is None else float(v)) for k, v in values.items()}
