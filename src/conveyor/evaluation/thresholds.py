"""Absolute thresholds as users write them: ``roc_auc >= 0.95``, ``log_loss < 0.3``.

Parsed when ``conveyor.yaml`` is loaded, so a typo is reported with its file and line before
anything is evaluated.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_THRESHOLD = re.compile(
    r"\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>>=|<=|>|<)\s*(?P<value>\S+)\s*"
)


@dataclass(frozen=True)
class Threshold:
    """``metric operator value``: the metric must compare true against ``value``."""

    metric: str
    operator: str
    value: float

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` meets the threshold (NaN never does)."""
        return not math.isnan(measured) and OPERATORS[self.operator](measured, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.operator} {self.value:g}"


def parse_threshold(text: str) -> Threshold:
    """Parse ``"roc_auc >= 0.95"``; raises ValueError saying what was expected.

    Example::

        >>> parse_threshold("f1 > 0.8")
        Threshold(metric='f1', operator='>', value=0.8)
    """
    match = _THRESHOLD.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a threshold; write METRIC OP NUMBER with OP one of "
            f"{', '.join(OPERATORS)}, e.g. 'roc_auc >= 0.95'"
        )
    try:
        value = float(match["value"])
    except ValueError:
        raise ValueError(f"{text!r}: {match['value']!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r}: the threshold must be a finite number")
    return Threshold(match["metric"], match["op"], value)
