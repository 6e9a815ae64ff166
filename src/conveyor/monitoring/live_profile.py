"""Live profiles: a model version's inputs and predictions as counts in its reference's cells.

The gateway keeps one :class:`LiveProfile` per (model, version, window) and process
(:mod:`conveyor.monitoring.profiler`); a reader merges the rows of every window of a range
and every writer into one (:func:`merge_rows`) and hands the counts to the drift tests
(:meth:`LiveProfile.counts`). Per profiled feature, and for the predictions:

- the exact counts of :mod:`conveyor.monitoring.drift.counts` in the reference profile's
  cells (numeric) or categories (categorical, binary), missing and non-finite values,
  unseen categories;
- a sketch for display: KLL quantiles of the finite values (numeric) or frequent items
  (categorical), left out for masked features (both keep actual values) and where
  ``datasketches`` is not installed.

Counts add and sketches merge, so a range of windows from several workers and replicas is
one profile: exactly what one process seeing all that traffic would have counted. A row
comes with the digest of the reference profile it was counted in; rows counted in another
profile's cells (a gateway on an older reference) are never merged with these.

Stored bytes: zlib-compressed JSON, ``{"format": "conveyor.live-profile/1", ...}``; counts
as sparse ``{"at": [cell, ...], "n": [count, ...]}`` (a window holds few distinct cells),
sketches as base64.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from conveyor.errors import DataError
from conveyor.monitoring import sketches
from conveyor.monitoring.drift.counts import (
    CategoryCounts,
    ColumnCounts,
    NumericCounts,
    count_categories,
    count_numeric,
    empty_categories,
    empty_numeric,
    floats,
)
from conveyor.monitoring.profile import PREDICTION, FeatureProfile, ReferenceProfile
from conveyor.monitoring.profile_options import MAX_WINDOW_S

if TYPE_CHECKING:
    from conveyor.store.base import SignalRepository

FORMAT = "conveyor.live-profile/1"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class _Feature:
    """One feature's counts and sketch in one live profile (mutable, one thread)."""

    profile: FeatureProfile
    counts: ColumnCounts
    sketch: Any = None  # a KLL or frequent-items sketch; None when not kept

    def add(self, values: object) -> None:
        ref = self.profile.reference
        if ref.kind == "numeric":
            data = floats(values)
            edges = ref.bins.edges if ref.bins is not None else np.empty(0)
            self.counts = self.counts.merged(count_numeric(edges, data))  # type: ignore[arg-type]
            if self.sketch is not None:
                finite = data[np.isfinite(data)]
                if len(finite):
                    self.sketch.update(np.ascontiguousarray(finite))
            return
        series = values if isinstance(values, pd.Series) else pd.Series(values)
        if self.profile.text:  # as the reference's categories were written: str(value)
            missing = series.isna().to_numpy()
            series = series.astype(object).map(str)
            series[missing] = None
        self.counts = self.counts.merged(count_categories(ref.categories, series))  # type: ignore[arg-type]
        if self.sketch is not None:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            own = np.bincount(codes[codes >= 0], minlength=len(uniques))
            sketches.add_counts(self.sketch, list(uniques), own.tolist())


@dataclass
class LiveProfile:
    """Counts and sketches of live inputs (and predictions) against one reference profile.

    ``rows``: input rows seen; ``dropped``: rows not counted because the profiler was
    behind (then the counts are not the whole traffic, and reports say so); ``absent``:
    rows whose input lacked a profiled feature.
    """

    reference: ReferenceProfile
    features: dict[str, _Feature]
    prediction: _Feature | None = None
    rows: int = 0
    dropped: int = 0
    absent: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(
        cls,
        reference: ReferenceProfile,
        features: Sequence[str],
        *,
        unsketched: Container[str] = (),
    ) -> LiveProfile:
        """A profile of ``features`` (names of the reference profile) with nothing counted;
        ``unsketched`` features get counts only (masked: no values are kept)."""
        keep = sketches.available()
        chosen = {
            name: _new_feature(reference.feature(name), keep and name not in unsketched)
            for name in features
        }
        prediction = reference.prediction
        live = _new_feature(prediction, keep) if prediction is not None else None
        return cls(reference, chosen, live)

    def add(
        self,
        columns: Mapping[str, object],
        rows: int,
        outputs: object | None,
        between: Callable[[], None] | None = None,
    ) -> None:
        """Count one batch: ``columns`` maps input names to their ``rows`` values (numpy
        arrays or Series; a profiled feature not among them is counted as absent), and
        ``outputs`` the model's answers (one per row, else not counted). ``between`` is
        called after each feature (the gateway's thread gives the interpreter back there)."""
        self.rows += rows
        for name, feature in self.features.items():
            values = columns.get(name)
            if values is None:
                self.absent[name] = self.absent.get(name, 0) + rows
            else:
                feature.add(values)
            if between is not None:
                between()
        if self.prediction is not None and outputs is not None:
            answers = np.asarray(outputs)
            if answers.ndim == 2 and answers.shape[1] == 1:
                answers = answers[:, 0]
            if answers.ndim == 1 and len(answers) == rows:
                self.prediction.add(answers)

    def merge(self, other: LiveProfile) -> None:
        """Add ``other``'s counts and sketches to these (same reference profile)."""
        if other.reference.digest != self.reference.digest:
            raise DataError("live profiles of two different reference profiles cannot merge")
        self.rows += other.rows
        self.dropped += other.dropped
        for name, count in other.absent.items():
            self.absent[name] = self.absent.get(name, 0) + count
        for name, feature in other.features.items():
            mine = self.features.get(name)
            if mine is None:
                self.features[name] = feature
            else:
                _merge_into(mine, feature)
        if other.prediction is not None:
            if self.prediction is None:
                self.prediction = other.prediction
            else:
                _merge_into(self.prediction, other.prediction)

    def counts(self) -> dict[str, ColumnCounts]:
        """The counts the drift tests take, per feature seen at all; rows that lacked a
        feature count as its missing values (the model got none)."""
        out: dict[str, ColumnCounts] = {}
        for name, feature in self.features.items():
            counts, absent = feature.counts, self.absent.get(name, 0)
            if absent and absent == self.rows:
                continue  # in no input at all: the report says the feature is missing
            out[name] = replace(counts, rows=counts.rows + absent, missing=counts.missing + absent)
        return out

    def prediction_counts(self) -> ColumnCounts | None:
        """The predictions' counts, if any were counted."""
        if self.prediction is None or self.prediction.counts.rows == 0:
            return None
        return self.prediction.counts

    def quantiles(self, name: str) -> list[float] | None:
        """The live 5/25/50/75/95 % quantiles of numeric feature ``name`` (or
        :data:`PREDICTION`) from its KLL sketch; None without one."""
        feature = self.prediction if name == PREDICTION else self.features.get(name)
        if feature is None or feature.sketch is None or feature.profile.kind != "numeric":
            return None
        if feature.sketch.is_empty():
            return None
        return [float(q) for q in feature.sketch.get_quantiles(list(QUANTILES))]

    def top_values(self, name: str, limit: int = 10) -> list[tuple[str, int]]:
        """The most frequent live values of categorical feature ``name`` (estimates)."""
        feature = self.prediction if name == PREDICTION else self.features.get(name)
        if feature is None or feature.sketch is None or feature.profile.kind == "numeric":
            return []
        return sketches.top(feature.sketch, limit)

    def to_bytes(self) -> bytes:
        """The stored form (see the module docstring)."""
        data = {
            "format": FORMAT,
            "reference": self.reference.digest,
            "rows": self.rows,
            "dropped": self.dropped,
            "absent": self.absent,
            "features": {name: _feature_json(f) for name, f in self.features.items()},
            "prediction": _feature_json(self.prediction) if self.prediction else None,
        }
        return zlib.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"))

    @classmethod
    def from_bytes(cls, blob: bytes, reference: ReferenceProfile) -> LiveProfile:
        """Read :meth:`to_bytes`'s form; DataError if it is not one, or was counted in the
        cells of another reference profile."""
        try:
            data = json.loads(zlib.decompress(blob))
        except (zlib.error, ValueError) as exc:
            raise DataError(f"a stored live profile is unreadable: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"a stored live profile is not in format {FORMAT}")
        if data.get("reference") != reference.digest:
            raise DataError("a stored live profile was counted in another reference profile")
        try:
            features = {
                str(name): _feature_of(reference.feature(str(name)), item)
                for name, item in data["features"].items()
            }
            prediction = None
            if data["prediction"] is not None and reference.prediction is not None:
                prediction = _feature_of(reference.prediction, data["prediction"])
            absent = {str(k): int(v) for k, v in data["absent"].items()}
            return cls(
                reference, features, prediction, int(data["rows"]), int(data["dropped"]), absent
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise DataError(f"a stored live profile is malformed: {exc}") from exc


@dataclass(frozen=True)
class LiveRead:
    """The merged live profile of a range (None: no row), and where it came from."""

    profile: LiveProfile | None
    windows: int  # distinct window starts merged
    writers: int  # distinct gateway processes
    skipped: int  # rows counted in another reference profile, or unreadable
    start: datetime | None  # the first window's start
    end: datetime | None  # the last window's end


def read_live(
    signals: SignalRepository,
    model: str,
    version: int,
    reference: ReferenceProfile,
    since: datetime,
    until: datetime,
) -> LiveRead:
    """Every writer's profile rows of ``model`` ``version`` whose window overlaps
    ``[since, until)``, merged into one: a window cannot be cut, so the span read may begin
    up to one window before ``since`` (``start`` says where). Windows still open in a
    gateway are not there yet."""
    earlier = signals.profiles(model, since - timedelta(seconds=MAX_WINDOW_S), until, version)
    rows = [r for r in earlier if r.start + timedelta(seconds=r.window_s) > since]
    merged, skipped = merge_rows((row.body for row in rows), reference)
    start = min((r.start for r in rows), default=None)
    end = max((r.start + timedelta(seconds=r.window_s) for r in rows), default=None)
    starts, writers = len({r.start for r in rows}), len({r.writer for r in rows})
    return LiveRead(merged, starts, writers, skipped, start, end)


def merge_rows(
    blobs: Iterable[bytes], reference: ReferenceProfile
) -> tuple[LiveProfile | None, int]:
    """One profile of every stored row counted in ``reference``'s cells, and how many rows
    were skipped (another reference profile, unreadable)."""
    merged: LiveProfile | None = None
    skipped = 0
    for blob in blobs:
        try:
            one = LiveProfile.from_bytes(blob, reference)
        except DataError:
            skipped += 1
            continue
        if merged is None:
            merged = one
        else:
            merged.merge(one)
    return merged, skipped


def _new_feature(profile: FeatureProfile, sketched: bool) -> _Feature:
    ref = profile.reference
    if ref.kind == "numeric":
        edges = ref.bins.edges if ref.bins is not None else np.empty(0)
        sketch = sketches.quantiles(k=sketches.LIVE_KLL_K) if sketched else None
        return _Feature(profile, empty_numeric(edges), sketch)
    sketch = sketches.frequent() if sketched else None
    return _Feature(profile, empty_categories(ref.categories), sketch)


def _merge_into(mine: _Feature, other: _Feature) -> None:
    mine.counts = mine.counts.merged(other.counts)  # type: ignore[arg-type]
    if mine.sketch is not None and other.sketch is not None:
        mine.sketch.merge(other.sketch)
    elif mine.sketch is None:
        mine.sketch = other.sketch


def _sparse(counts: np.ndarray[Any, Any]) -> dict[str, list[int]]:
    at = np.flatnonzero(counts)
    return {"at": at.tolist(), "n": counts[at].tolist()}


def _dense(data: Mapping[str, Any], size: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    out = np.zeros(size, dtype=np.int64)
    at = np.asarray(data["at"], dtype=np.int64)
    if len(at) and (at.min() < 0 or at.max() >= size):
        raise ValueError(f"a count outside the {size} cells of the reference")
    out[at] = np.asarray(data["n"], dtype=np.int64)
    return out


def _feature_json(feature: _Feature) -> dict[str, Any]:
    counts = feature.counts
    sketch = None if feature.sketch is None else base64.b64encode(feature.sketch.serialize())
    out: dict[str, Any] = {
        "rows": counts.rows,
        "missing": counts.missing,
        "sketch": None if sketch is None else sketch.decode("ascii"),
    }
    if isinstance(counts, NumericCounts):
        out.update(
            non_finite=counts.non_finite,
            cells=_sparse(counts.cells),
            below_sum=counts.below_sum,
            above_sum=counts.above_sum,
        )
    else:
        out.update(counts=_sparse(counts.counts), new=counts.new)
    return out


def _feature_of(profile: FeatureProfile, data: Mapping[str, Any]) -> _Feature:
    ref = profile.reference
    sketch_text = data["sketch"]
    sketch_bytes = None if sketch_text is None else base64.b64decode(sketch_text)
    rows, missing = int(data["rows"]), int(data["missing"])
    if ref.kind == "numeric":
        size = 2 * (len(ref.bins.edges) if ref.bins is not None else 0) + 1
        counts: ColumnCounts = NumericCounts(
            rows, missing, int(data["non_finite"]), _dense(data["cells"], size),
            float(data["below_sum"]), float(data["above_sum"]),
        )  # fmt: skip
        sketch = None if sketch_bytes is None else sketches.load_quantiles(sketch_bytes)
        return _Feature(profile, counts, sketch)
    counts = CategoryCounts(
        rows, missing, _dense(data["counts"], len(ref.categories)), int(data["new"])
    )
    sketch = None if sketch_bytes is None else sketches.load_frequent(sketch_bytes)
    return _Feature(profile, counts, sketch)
