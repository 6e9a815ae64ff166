"""Fairness gates (``gates.fairness``): the largest gap of a rate between the groups of a
sensitive column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError
from conveyor.evaluation.results import GateResult

if TYPE_CHECKING:
    from conveyor.config import FairnessGate
    from conveyor.evaluation.gates.base import Evidence


class FairnessGates:
    """The largest gap of a rate across the groups of each sensitive column."""

    key = "fairness"

    def __init__(self, config: list[FairnessGate]) -> None:
        self.config = config

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        """A gate per sensitive column, failed where the gap is over ``max_gap``."""
        frame = evidence.holdout
        results = []
        for index, gate in enumerate(self.config):
            if gate.column not in frame.columns:
                raise ConfigError(
                    f"conveyor.yaml: gates.fairness[{index}].column: the holdout has no column "
                    f"{gate.column!r}",
                    hint=f"its columns: {', '.join(map(str, frame.columns))}",
                )
            results.append(_decide(gate, evidence))
        return results


def _decide(gate: FairnessGate, evidence: Evidence) -> GateResult:
    from conveyor.evaluation.fairness import group_gap

    found = group_gap(
        evidence.candidate.predictions,
        evidence.holdout[gate.column],
        gate.metric,
        min_group_size=gate.min_group_size,
    )
    groups = [{"group": g.group, "n": g.n, "rate": g.rate} for g in found.groups]
    excluded = [{"group": g.group, "n": g.n} for g in found.excluded]
    if len(found.groups) < 2:
        return _too_few_groups(gate, groups, excluded)
    passed = found.gap <= gate.max_gap
    return GateResult(
        name=f"{gate.metric} by {gate.column}",
        kind="fairness",
        status="passed" if passed else "failed",
        metric=gate.metric,
        value=found.gap,
        operator="<=",
        threshold=gate.max_gap,
        test=f"largest gap between groups of at least {gate.min_group_size} rows",
        n=sum(g.n for g in found.groups),
        detail=f"{gate.metric} by {gate.column}: rates from {found.lowest} to "
        f"{found.highest}, gap {found.gap:.4g} "
        f"({'within' if passed else 'over'} {gate.max_gap:g}) over "
        f"{len(groups)} groups" + (f"; {len(excluded)} too small" if excluded else ""),
        evidence={"groups": groups, "excluded": excluded, "gap": found.gap},
    )


def _too_few_groups(
    gate: FairnessGate, groups: list[dict[str, Any]], excluded: list[dict[str, Any]]
) -> GateResult:
    """A gap needs two groups; fewer is a failure that says how to get more."""
    sizes = ", ".join(f"{g['group']}: {g['n']}" for g in groups + excluded) or "none"
    return GateResult(
        name=f"{gate.metric} by {gate.column}",
        kind="fairness",
        status="failed",
        metric=gate.metric,
        detail=f"{gate.metric} by {gate.column}: fewer than two groups have at least "
        f"{gate.min_group_size} rows (group sizes: {sizes}), so no gap can be measured; "
        "lower min_group_size or use a larger holdout",
        evidence={"groups": groups, "excluded": excluded},
    )
