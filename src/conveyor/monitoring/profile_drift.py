"""Drift from profiles: a merged live profile against the version's reference profile.

The tests are the drift package's own (``DriftDetector.detect_counts``: the same rules,
correction, thresholds and verdict as for files), run on the exact counts the gateway kept in
the reference profile's cells, so every request of the window counts (no sample) and reading
an hour costs one query and a merge of small rows. The predictions are judged apart from the
inputs, as one more column with its own correction: a model whose outputs shift is news even
when no single input does, and the dataset verdict on the inputs keeps its meaning.

The sketches add what a reader wants to see, never a decision: the live quantiles of numeric
features beside the reference's, and the most frequent values the reference never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.monitoring import sketches
from conveyor.monitoring.drift import DriftDetector, DriftReport, FeatureDrift
from conveyor.monitoring.drift.counts import ColumnCounts
from conveyor.monitoring.live_profile import QUANTILES, LiveProfile
from conveyor.monitoring.profile import PREDICTION, FeatureProfile, ReferenceProfile


@dataclass(frozen=True)
class ProfileDrift:
    """The inputs' report, the predictions' finding, and what the sketches show."""

    report: DriftReport
    predictions: FeatureDrift | None
    prediction_note: str
    unprofiled: list[str]  # reference features the gateway does not profile (its cap)
    details: dict[str, Any] = field(default_factory=dict)


def profile_drift(
    reference: ReferenceProfile,
    live: LiveProfile,
    *,
    columns: Sequence[str] | None,
    correction: str,
    alpha: float,
) -> ProfileDrift:
    """Judge ``live`` against ``reference`` (only ``columns`` if given)."""
    wanted = [f for f in reference.features if columns is None or f.name in columns]
    profiled = [f for f in wanted if f.name in live.features]
    unprofiled = [f.name for f in wanted if f.name not in live.features]
    detector = DriftDetector.from_columns(
        {f.name: f.reference for f in profiled}, reference.rows, alpha=alpha, correction=correction
    )
    counts = {n: c for n, c in live.counts().items() if n in detector.columns_}
    report = detector.detect_counts(counts, live.rows)
    predictions, note = judge_predictions(reference, live.prediction_counts(), alpha, correction)
    details = {
        "quantiles": _quantiles(profiled, live),
        "new_categories": _new_values(profiled, live),
    }
    return ProfileDrift(report, predictions, note, unprofiled, details)


def judge_predictions(
    reference: ReferenceProfile, current: ColumnCounts | None, alpha: float, correction: str
) -> tuple[FeatureDrift | None, str]:
    """The predictions' finding (None, and why, when either side has none)."""
    if reference.prediction is None:
        return None, reference.prediction_note or "the reference profile has no predictions"
    if current is None:
        return None, "no predictions were counted in the window"
    detector = DriftDetector.from_columns(
        {PREDICTION: reference.prediction.reference},
        reference.rows,
        alpha=alpha,
        correction=correction,
    )
    return detector.detect_counts({PREDICTION: current}, current.rows).features[0], ""


def _quantiles(features: list[FeatureProfile], live: LiveProfile) -> dict[str, Any]:
    """Per numeric feature, the reference's and the live 5/25/50/75/95 % quantiles."""
    out: dict[str, Any] = {}
    for feature in [*features, *_prediction(live)]:
        current = live.quantiles(feature.name)
        if current is None or feature.quantiles is None or not sketches.available():
            continue
        kll = sketches.load_quantiles(feature.quantiles)
        if kll.is_empty():
            continue
        ref = [float(q) for q in kll.get_quantiles(list(QUANTILES))]
        out[feature.name] = {"at": list(QUANTILES), "reference": ref, "current": current}
    return out


def _new_values(features: list[FeatureProfile], live: LiveProfile) -> dict[str, Any]:
    """Per categorical feature, the most frequent live values the reference never saw."""
    out: dict[str, Any] = {}
    for feature in [*features, *_prediction(live)]:
        if feature.kind == "numeric":
            continue
        known = {str(c) for c in feature.reference.categories.tolist()}
        unseen = [[v, n] for v, n in live.top_values(feature.name) if v not in known]
        if unseen:
            out[feature.name] = unseen
    return out


def _prediction(live: LiveProfile) -> list[FeatureProfile]:
    return [live.prediction.profile] if live.prediction is not None else []
