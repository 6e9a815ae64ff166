"""The numbers behind the plots, in numpy: positives, ROC and precision-recall curves.

Kept apart from drawing so they can be tested exactly; every function is tolerant of what a
predictions file may hold (labels as strings, booleans or numbers; NaN scores).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


def as_floats(values: Any) -> Floats | None:
    """A 1-d float array (NaN where a value is missing), or None when it cannot be one."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 else None


def column(frame: pd.DataFrame | None, name: str) -> Floats | None:
    """A numeric column of ``frame`` as floats, or None (no frame, no column, all missing)."""
    if frame is None or name not in frame.columns:
        return None
    import pandas as pd

    values = as_floats(pd.to_numeric(frame[name], errors="coerce"))
    return values if values is not None and np.isfinite(values).any() else None


def positives(y_true: pd.Series, positive_label: str | None) -> Bools | None:
    """Which rows are of the positive class, or None when that cannot be told.

    With ``positive_label`` a row is positive when its label equals it as text or as a
    number (``1`` matches ``1.0``); without it, a column of two values has the larger one
    (``1``, ``True``, or the last in text order) as positive.
    """
    present = y_true.dropna()
    values = sorted(present.unique().tolist(), key=_sort_key)
    if positive_label is None:
        if len(values) != 2:
            return None
        positive_label = str(values[-1])
    text = y_true.astype(str).to_numpy() == str(positive_label)
    numeric = _numeric_equal(y_true, positive_label)
    mask = np.asarray(text | numeric, dtype=np.bool_)
    return mask if 0 < mask.sum() < len(present) else None


def _sort_key(value: Any) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _numeric_equal(y_true: pd.Series, label: str) -> Bools:
    import pandas as pd

    try:
        target = float(label)
    except ValueError:
        target = {"true": 1.0, "false": 0.0}.get(label.lower(), np.nan)
    numbers = pd.to_numeric(y_true.astype(object), errors="coerce").astype(np.float64).to_numpy()
    return np.asarray(numbers == target, dtype=np.bool_)


def _ranked_counts(positive: Bools, score: Floats) -> tuple[Floats, Floats]:
    """Cumulative true and false positives at each distinct score, highest score first."""
    order = np.argsort(-score, kind="mergesort")
    ranked_score, ranked_pos = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(ranked_score)), len(ranked_score) - 1]
    tps = np.cumsum(ranked_pos, dtype=np.float64)[last]
    fps = (last + 1).astype(np.float64) - tps
    return tps, fps


def roc(positive: Bools, score: Floats) -> tuple[Floats, Floats, float] | None:
    """False and true positive rates, and the area under the curve (None if undefined)."""
    keep = np.isfinite(score)
    positive, score = positive[keep], score[keep]
    if not 0 < positive.sum() < len(positive):
        return None
    tps, fps = _ranked_counts(positive, score)
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def precision_recall(positive: Bools, score: Floats) -> tuple[Floats, Floats, float] | None:
    """Recall, precision and average precision (None without positives)."""
    keep = np.isfinite(score)
    positive, score = positive[keep], score[keep]
    if not positive.any():
        return None
    tps, fps = _ranked_counts(positive, score)
    recall = np.r_[0.0, tps / tps[-1]]
    precision = np.r_[1.0, tps / (tps + fps)]
    return recall, precision, float(np.sum(np.diff(recall) * precision[1:]))


def sample(n: int, limit: int) -> NDArray[np.intp]:
    """At most ``limit`` row positions spread evenly over ``n`` rows (always the same)."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).astype(np.intp))


def slug(text: str) -> str:
    """A safe piece of a file name: ``roc_auc``, ``demographic_parity``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:40] or "gate"
