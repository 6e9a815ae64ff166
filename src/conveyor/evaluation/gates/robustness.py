"""Robustness gates (``gates.robustness``): how much a metric drops with noise or missing
values injected into the candidate's numeric features."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.errors import ConfigError
from conveyor.evaluation.gates.base import metric_of
from conveyor.evaluation.results import GateResult

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.config import RobustnessGate
    from conveyor.evaluation.gates.base import Evidence
    from conveyor.evaluation.predict import Predictions


class RobustnessGates:
    """Each metric re-measured with noise or missing values injected into the features."""

    key = "robustness"

    def __init__(self, config: list[RobustnessGate]) -> None:
        self.config = config

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        """A gate per perturbation, failed where the metric drops by more than allowed."""
        frame = evidence.holdout
        results = []
        for index, gate in enumerate(self.config):
            where = f"gates.robustness[{index}]"
            baseline = metric_of(evidence.candidate.evaluation, gate.metric, f"{where}.metric")
            columns = (
                list(gate.columns) if gate.columns else numeric_columns(frame, evidence.features)
            )
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ConfigError(f"conveyor.yaml: {where}.columns: no such columns {missing}")
            results.append(_robustness(gate, evidence, columns, baseline))
        return results


def numeric_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The numeric (not boolean) ones: what noise and missing values are injected into."""
    import pandas as pd

    return [
        c
        for c in columns
        if c in frame
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def _robustness(
    gate: RobustnessGate, evidence: Evidence, columns: list[str], baseline: float
) -> GateResult:
    from conveyor.errors import ConveyorError
    from conveyor.evaluation.metrics import compute_metric, metric_direction
    from conveyor.evaluation.predict import predict_frame
    from conveyor.evaluation.robustness import perturb

    frame, candidate = evidence.holdout, evidence.candidate.predictions
    name = f"{gate.metric} under {gate.perturbation} {gate.amount:g}"
    changed = perturb(frame, gate.perturbation, gate.amount, columns=columns, seed=gate.seed)
    try:
        perturbed = compute_metric(
            gate.metric,
            predict_frame(
                evidence.candidate.model,
                changed,
                evidence.target,
                task=_task_of(candidate),
                positive_label=candidate.positive_label,
                feature_columns=list(evidence.features),
            ),
        )
    except ConveyorError as exc:
        return GateResult(
            name=name,
            kind="robustness",
            status="failed",
            metric=gate.metric,
            detail=f"the model cannot predict with {gate.perturbation} injected: {exc.message}",
            evidence={"perturbation": gate.perturbation, "amount": gate.amount},
        )
    sign = 1.0 if metric_direction(gate.metric) == "higher" else -1.0
    drop = sign * (baseline - perturbed)
    passed = drop <= gate.max_drop
    what = (
        f"noise with {gate.amount:g} x each column's std"
        if gate.perturbation == "noise"
        else f"{gate.amount:.0%} of values missing"
    )
    return GateResult(
        name=name,
        kind="robustness",
        status="passed" if passed else "failed",
        metric=gate.metric,
        value=drop,
        operator="<=",
        threshold=gate.max_drop,
        test=f"{what} in {len(columns)} columns (seed {gate.seed})",
        n=len(frame),
        detail=f"{gate.metric} {baseline:.4g} on clean data, {perturbed:.4g} with {what}: "
        + (f"worse by {drop:.4g}" if drop > 0 else f"no worse ({-drop:.4g} better)")
        + f", {'within' if passed else 'over'} the {gate.max_drop:g} allowed",
        evidence={
            "baseline": baseline,
            "perturbed": perturbed,
            "drop": drop,
            "perturbation": gate.perturbation,
            "amount": gate.amount,
            "columns": columns,
        },
    )


def _task_of(predictions: Predictions) -> str:
    if predictions.classes is None:
        return "regression"
    return "binary" if len(predictions.classes) == 2 else "multiclass"
