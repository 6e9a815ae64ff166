"""Threshold gates (``gates.thresholds``): a metric of the candidate against an absolute
bound, ``roc_auc >= 0.95``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.evaluation.gates.base import metric_of
from conveyor.evaluation.results import GateResult
from conveyor.evaluation.thresholds import parse_threshold

if TYPE_CHECKING:
    from conveyor.evaluation.gates.base import Evidence


class ThresholdGates:
    """One gate per ``metric OP value`` line, decided on the candidate's metrics."""

    key = "thresholds"

    def __init__(self, config: list[str]) -> None:
        self.config = config

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        """A gate per line, passed where the candidate's metric meets it."""
        evaluation = evidence.candidate.evaluation
        results = []
        for index, text in enumerate(self.config):
            threshold = parse_threshold(text)
            value = metric_of(evaluation, threshold.metric, f"gates.thresholds[{index}]")
            held = threshold.holds(value)
            results.append(
                GateResult(
                    name=str(threshold),
                    kind="threshold",
                    status="passed" if held else "failed",
                    metric=threshold.metric,
                    value=value,
                    operator=threshold.operator,
                    threshold=threshold.value,
                    n=evaluation.n_rows,
                    detail=f"{threshold.metric} is {value:.4g} on {evaluation.n_rows} holdout "
                    f"rows, {'meeting' if held else 'missing'} the threshold {threshold}",
                    evidence={"value": value},
                )
            )
        return results
