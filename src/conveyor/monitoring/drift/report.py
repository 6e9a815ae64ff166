"""The results: one :class:`Signal` per test, one :class:`FeatureDrift` per column, one
:class:`DriftReport` per comparison. Small frozen objects that carry the statistic, the
threshold, the sample sizes, the decision and a sentence saying why.

``DriftReport.as_dict()`` is the JSON the CLI prints (``conveyor monitor drift --json``)::

    {"drifted": bool, "status": "drift" | "no_drift" | "insufficient_data",
     "statement": str, "rule": str, "alpha": 0.05, "correction": "bh",
     "n_reference": int, "n_current": int, "drifted_features": [name, ...],
     "features": [{"name", "kind", "drifted", "status", "test", "statistic", "p_value",
                   "p_adjusted", "effect", "effect_name", "threshold", "mde",
                   "n_ref", "n_cur", "missing_share_ref", "missing_share_cur",
                   "non_finite_share_ref", "non_finite_share_cur", "new_category_share_cur",
                   "explanation", "signals": [...]}, ...]}

Numbers that do not exist (no test could run) are ``null``, never 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

FeatureStatus = Literal[
    "ok", "drift", "insufficient_data", "missing_in_current", "not_in_reference"
]
DatasetStatus = Literal["drift", "no_drift", "insufficient_data"]

VERDICT_RULE = (
    "the dataset drifts when at least one feature drifts; a feature drifts when any of its "
    "signals (distribution, missing share, non-finite share, new-category share) has a "
    "p-value at or below alpha after {correction} control across every test of the report "
    "AND an effect above its threshold (the rule's floor or the reference-calibrated value, "
    "whichever is higher); a column of the reference absent from the current data drifts"
)


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN or Infinity


@dataclass(frozen=True)
class Signal:
    """One test of one column: a distribution test or a share test."""

    name: str  # distribution | missing | non_finite | new_category
    test: str  # ks | chi_square | z_two_proportions
    statistic: float
    p_value: float  # NaN: not tested (see explanation)
    effect: float
    effect_name: str
    threshold: float  # the effect bar: max(rule floor, calibrated)
    mde: float  # minimum detectable effect, 80 % power, same units as effect
    n_ref: int
    n_cur: int
    explanation: str
    p_adjusted: float = math.nan
    drifted: bool = False

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p_value)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = _num(value)
        return out


@dataclass(frozen=True)
class FeatureDrift:
    """Every signal of one column, and the column's decision."""

    name: str
    kind: str
    status: FeatureStatus
    signals: tuple[Signal, ...]
    shares: dict[str, float]  # missing_share_ref, missing_share_cur, ...
    explanation: str

    @property
    def drifted(self) -> bool:
        return self.status in ("drift", "missing_in_current")

    @property
    def distribution(self) -> Signal | None:
        return next((s for s in self.signals if s.name == "distribution"), None)

    def as_dict(self) -> dict[str, Any]:
        main = self.distribution
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "drifted": self.drifted,
            "status": self.status,
            "test": main.test if main else "schema",
            "statistic": _num(main.statistic) if main else None,
            "p_value": _num(main.p_value) if main else None,
            "p_adjusted": _num(main.p_adjusted) if main else None,
            "effect": _num(main.effect) if main else None,
            "effect_name": main.effect_name if main else None,
            "threshold": _num(main.threshold) if main else None,
            "mde": _num(main.mde) if main else None,
            "n_ref": main.n_ref if main else None,
            "n_cur": main.n_cur if main else None,
        }
        out.update({k: _num(v) for k, v in self.shares.items()})
        out["explanation"] = self.explanation
        out["signals"] = [s.as_dict() for s in self.signals]
        return out


@dataclass(frozen=True)
class DriftReport:
    """The dataset verdict and every feature's findings."""

    status: DatasetStatus
    features: tuple[FeatureDrift, ...]
    statement: str
    alpha: float
    correction: str
    n_reference: int
    n_current: int

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def feature(self, name: str) -> FeatureDrift:
        """The findings for column ``name`` (KeyError if the report has none)."""
        for item in self.features:
            if item.name == name:
                return item
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "status": self.status,
            "statement": self.statement,
            "rule": VERDICT_RULE.format(correction=self.correction),
            "alpha": self.alpha,
            "correction": self.correction,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted_features": self.drifted_features,
            "features": [f.as_dict() for f in self.features],
        }


def verdict(features: tuple[FeatureDrift, ...]) -> tuple[DatasetStatus, str]:
    """The dataset status and its one-paragraph statement."""
    drifted = [f.name for f in features if f.drifted]
    unknown = [f.name for f in features if f.status == "insufficient_data"]
    extra = [f.name for f in features if f.status == "not_in_reference"]
    compared = [f for f in features if f.status in ("ok", "drift")]
    notes = []
    if unknown:
        notes.append(f"{len(unknown)} could not be tested ({_names(unknown)})")
    if extra:
        notes.append(f"{len(extra)} are new in the current data and not judged ({_names(extra)})")
    tail = ("; " + "; ".join(notes)) if notes else ""
    if drifted:
        return "drift", f"drift: {len(drifted)} of {len(features)} features drifted " + (
            f"({_names(drifted)}){tail}."
        )
    if not compared:
        return "insufficient_data", f"insufficient data: no feature could be compared{tail}."
    return "no_drift", f"no drift in the {len(compared)} features compared{tail}."


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
