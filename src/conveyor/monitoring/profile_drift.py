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
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.monitoring.drift import DriftDetector, DriftReport, FeatureDrift
from conveyor.monitoring.drift.counts import ColumnCounts
from conveyor.monitoring.live_profile import QUANTILES, LiveProfile
from conveyor.monitoring.profile import PREDICTION, FeatureProfile, ReferenceProfile

if TYPE_CHECKING:
    import pandas as pd

PLOT_VALUES = 20_000
"""At most this many values a side per feature in the frames drawn for ``-o DIR``."""
NEW = "(new)"


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
    """Per numeric feature, the reference's and the live 5/25/50/75/95 % quantiles.

    The reference side is read from its exact quantile bins, never from the KLL bytes of
    ``reference-profile.json``: that file comes with a model, so it is untrusted input, and
    datasketches' deserializer crashes the process (SIGSEGV, found by fuzzing) on crafted
    bytes; a gateway running the monitor loop must not be one file away from dying. The
    live sketches come from the gateways' own rows in the metadata store.
    """
    out: dict[str, Any] = {}
    for feature in [*features, *_prediction(live)]:
        current = live.quantiles(feature.name)
        reference = _bin_quantiles(feature)
        if current is None or reference is None:
            continue
        out[feature.name] = {"at": list(QUANTILES), "reference": reference, "current": current}
    return out


def _bin_quantiles(feature: FeatureProfile) -> list[float] | None:
    """The reference's QUANTILES from its bins: the first edge whose CDF reaches each
    (exact when the edges are every distinct value, else within one bin)."""
    bins = feature.reference.bins
    if feature.kind != "numeric" or bins is None or not len(bins.edges):
        return None
    at = np.searchsorted(bins.le, np.array(QUANTILES), side="left")
    return [float(bins.edges[min(int(i), len(bins.edges) - 1)]) for i in at]


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


def plot_frames(
    reference: ReferenceProfile, live: LiveProfile, names: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Frames for the report's plots (histograms, category shares), rebuilt from counts:
    each cell's values at its middle (the reference's quantile cells are a few hundredths
    of a percent of its mass wide, so the drawn shapes are the counted ones), values beyond
    the reference's range at their mean, unseen categories as one ``(new)`` bar; at most
    :data:`PLOT_VALUES` a side, in proportion. Only for drawing: the tests ran on counts."""
    import pandas as pd

    ref_columns: dict[str, Any] = {}
    cur_columns: dict[str, Any] = {}
    counts = live.counts()
    for name in names:
        if name not in counts:
            continue
        feature = reference.feature(name)
        ref_columns[name], cur_columns[name] = _drawn(feature, counts[name])
    return (
        pd.DataFrame({k: pd.Series(v) for k, v in ref_columns.items()}),
        pd.DataFrame({k: pd.Series(v) for k, v in cur_columns.items()}),
    )


def _drawn(feature: FeatureProfile, current: ColumnCounts) -> tuple[Any, Any]:
    from conveyor.monitoring.drift import bins
    from conveyor.monitoring.drift.counts import NumericCounts

    ref = feature.reference
    if isinstance(current, NumericCounts):
        if ref.bins is None:
            return np.empty(0), np.empty(0)
        edges = ref.bins.edges
        # cell 2j + 1 is edge j; cell 2j (j >= 1) the middle between edges j - 1 and j
        middle = np.concatenate([[edges[0]], (edges[:-1] + edges[1:]) / 2, [edges[-1]]])
        values = np.empty(2 * len(edges) + 1)
        values[0::2] = middle
        values[1::2] = edges
        low = current.below_sum / current.cells[0] if current.cells[0] else edges[0]
        high = current.above_sum / current.cells[-1] if current.cells[-1] else edges[-1]
        mine = values.copy()
        mine[0], mine[-1] = low, high
        return _repeat(values, bins.reference_cells(ref.bins)), _repeat(mine, current.cells)
    labels = [str(c) for c in ref.categories.tolist()]
    ours = np.append(current.counts, current.new)
    return _repeat(np.array(labels, dtype=object), ref.counts), _repeat(
        np.array([*labels, NEW], dtype=object), ours
    )


def _repeat(values: Any, counts: Any) -> Any:
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total > PLOT_VALUES:
        counts = np.rint(counts * (PLOT_VALUES / total)).astype(np.int64)
    return np.repeat(values, counts)
