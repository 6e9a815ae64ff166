"""Deciding the gates of ``conveyor.yaml``: each one a :class:`GateResult` with its evidence.

Every kind is a :class:`Gate`: a class registered by its key under ``gates:``, built from
that key's configuration, that turns the :class:`Evidence` (both models scored on the
holdout, the validation summaries) into results. :func:`decide_gates` decides them in
this order, all of which must pass (a skipped gate does not block):

1. validation (``validation.py``): each data set of the top-level ``validation:`` block
   satisfies its schema; always first, whatever ``gates:`` says;
2. ``thresholds`` (``thresholds.py``): a metric of the candidate against a bound;
3. ``champion`` (``champion.py``): candidate vs champion, paired bootstrap and McNemar;
4. ``fairness`` (``fairness.py``): the largest gap of a rate between groups;
5. ``robustness`` (``robustness.py``): how much a metric drops under injected noise or
   missing values;
6. ``operational`` (``operational.py``): single-row p95 latency and model size;

then any kind registered later, in the order registered. To add a kind: its configuration
model as a field of :class:`conveyor.config.GatesConfig`, and a module here with its class,
added to :data:`BUILT_IN` (or, outside Conveyor, passed to :func:`register_gate`).
``conveyor check``, ``check.json`` and the reports need no change: they handle any
:class:`GateResult`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from conveyor.evaluation.gates.base import GATES, Evidence, Gate, Scored, register_gate
from conveyor.evaluation.gates.champion import ComparisonGates
from conveyor.evaluation.gates.fairness import FairnessGates
from conveyor.evaluation.gates.operational import OperationalGates
from conveyor.evaluation.gates.robustness import RobustnessGates
from conveyor.evaluation.gates.thresholds import ThresholdGates
from conveyor.evaluation.gates.validation import ValidationGates

if TYPE_CHECKING:
    from conveyor.config import GatesConfig
    from conveyor.evaluation.results import GateResult

__all__ = [
    "BUILT_IN",
    "GATES",
    "Evidence",
    "Gate",
    "Scored",
    "decide_gates",
    "register_gate",
    "unique_names",
]

# Registered here, not by decorators at import, so the order cannot follow the imports'.
BUILT_IN = (ThresholdGates, ComparisonGates, FairnessGates, RobustnessGates, OperationalGates)
for _kind in BUILT_IN:
    register_gate(_kind)


def decide_gates(config: GatesConfig, context: object, evidence: Evidence) -> list[GateResult]:
    """The validation gates, then each configured kind of :data:`GATES` in its order.

    A kind whose key is absent (or an empty list) in ``config`` is not asked.
    """
    decided = ValidationGates().evaluate(context, evidence)
    for key, kind in GATES.items():
        section = getattr(config, key, None)
        if section:
            decided += kind(section).evaluate(context, evidence)
    return unique_names(decided)


def unique_names(gates: list[GateResult]) -> list[GateResult]:
    """Gates that would share a name get " #2", " #3"... so a failure names one gate."""
    seen: dict[str, int] = {}
    named = []
    for gate in gates:
        seen[gate.name] = seen.get(gate.name, 0) + 1
        count = seen[gate.name]
        named.append(gate if count == 1 else replace(gate, name=f"{gate.name} #{count}"))
    return named
