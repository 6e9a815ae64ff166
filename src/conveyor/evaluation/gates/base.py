"""The gate interface, the evidence every gate reads, and the registry of kinds.

A gate kind is a class with a ``key`` (its key under ``gates:`` in ``conveyor.yaml``),
built from that key's configuration, whose :meth:`Gate.evaluate` turns the evidence into
:class:`GateResult` s. :func:`register_gate` puts a kind in :data:`GATES`, the one table
``conveyor check`` decides from, in the order the kinds were registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from conveyor.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.evaluation.predict import Predictions
    from conveyor.evaluation.results import Evaluation, GateResult, ModelRef, ValidationSummary
    from conveyor.modelpack import LoadedModel


@dataclass(frozen=True)
class Scored:
    """A model, what it is, and what it said on the holdout."""

    ref: ModelRef
    model: LoadedModel
    evaluation: Evaluation
    predictions: Predictions


@dataclass(frozen=True)
class Evidence:
    """What the gates decide on: both models scored on the same holdout rows, and the
    validation of the declared data sets.

    ``champion`` is None when there is none to compare with; ``champion_note`` then says
    why, and ``champion_blocking`` whether that fails a comparison (a champion exists but
    cannot score the holdout) rather than skipping it.
    """

    holdout: pd.DataFrame
    target: str
    features: list[str]  # the columns the candidate predicts from
    candidate: Scored
    champion: Scored | None = None
    champion_alias: str = "champion"
    champion_note: str | None = None
    champion_blocking: bool = False
    validation: list[ValidationSummary] = field(default_factory=list)


class Gate(Protocol):
    """One kind of gate, configured: ``evaluate`` decides its gates on the evidence.

    ``context`` is the caller's context (settings, stores, the acting principal); a gate
    that needs neither reads only ``evidence``. A gate raises :class:`ConfigError` for
    configuration the evidence shows to be wrong (a metric the task has not, a column the
    holdout lacks); a gate that cannot be decided is a ``failed`` or ``skipped`` result
    that says why.
    """

    key: ClassVar[str]

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        """The decided gates of this kind, in the order they are configured."""
        ...


GateKindFactory = Callable[[Any], Gate]  # built from its configuration under gates:
GATES: dict[str, GateKindFactory] = {}

K = TypeVar("K", bound=type)


def register_gate(kind: K) -> K:
    """Class decorator: decide ``kind`` for its ``gates.<key>`` entry of ``conveyor.yaml``.

    Example::

        @register_gate
        class Drift:
            key = "drift"

            def __init__(self, config: DriftGate) -> None:
                self.config = config

            def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]: ...
    """
    key = getattr(kind, "key", None)
    if not isinstance(key, str) or not key:
        raise TypeError(f"{kind.__name__} has no `key`: its gates: key in conveyor.yaml")
    if key in GATES and GATES[key] is not kind:
        raise ValueError(f"a gate kind is already registered for gates.{key}")
    GATES[key] = kind
    return kind


def metric_of(evaluation: Evaluation, name: str, where: str) -> float:
    """The candidate's value of metric ``name``, or an error naming the line ``where``."""
    if name not in evaluation.metrics:
        import difflib

        close = difflib.get_close_matches(name, list(evaluation.metrics), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"conveyor.yaml: {where}: the {evaluation.task} evaluation has no metric {name!r}",
            hint=f"{hint}metrics: {', '.join(sorted(evaluation.metrics))}",
        )
    return evaluation.metrics[name]
