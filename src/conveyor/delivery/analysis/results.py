"""What every canary statistic returns, and the checks its parameters go through.

A :class:`MetricResult` carries the statistic, the threshold it was held against, the sample
size on each arm, the minimum sample the metric needs before it may pass, the decision and
one sentence a user can read. Tests with more to say (a confidence sequence, an interval)
extend it with typed fields of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from conveyor.errors import InvalidValue

Decision = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class MetricResult:
    """One metric's judgement of canary against stable over the same windows.

    ``statistic`` is what the decision rests on (an always-valid p-value, a PSI, a lower
    confidence bound...) and ``threshold`` what it was compared with; ``test`` names both.
    """

    metric: str
    test: str
    statistic: float
    threshold: float
    n_canary: int
    n_stable: int
    min_sample: int  # per arm (canary), before the metric may pass
    decision: Decision
    explanation: str


def check_probability(name: str, value: float, *, open_interval: bool = True) -> float:
    """``value`` as a float in (0, 1) (or [0, 1]); an :class:`InvalidValue` otherwise."""
    value = float(value)
    inside = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not (math.isfinite(value) and inside):
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise InvalidValue(f"canary analysis: {name} must be in {bounds}, got {value!r}")
    return value


def check_positive(name: str, value: float) -> float:
    """``value`` as a finite float > 0; an :class:`InvalidValue` otherwise."""
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise InvalidValue(f"canary analysis: {name} must be a positive number, got {value!r}")
    return value


def check_count(name: str, value: int) -> int:
    """``value`` as an int >= 0; an :class:`InvalidValue` otherwise."""
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise InvalidValue(f"canary analysis: {name} must be a whole number >= 0, got {value!r}")
    return int(value)
