"""The reference profile of a model version: what drift needs of its reference data, built once.

Built when the model is saved (:func:`conveyor.modelpack.save_model`, from the same seeded
sample as ``reference.parquet``) and stored beside it as ``reference-profile.json``; for a
version saved before profiles existed it is built from ``reference.parquet`` on demand
(:func:`load_profile`). Per feature (the first :data:`MAX_FEATURES` columns), by kind:

- numeric: row, missing and non-finite counts, the reference's quantile grid (at most
  :data:`MAX_BINS` quantiles plus its extreme values, every distinct value when fewer)
  with its exact counts on and between the edges, its sd, and a KLL sketch;
- categorical / binary: row and missing counts, every category with its count, and a
  frequent-items sketch;
- both: the effect thresholds calibrated on reference chunks, leaving each out
  (:mod:`conveyor.monitoring.drift.calibrate`), and the reference's own new-category rate.

That is exactly a fitted :class:`~conveyor.monitoring.drift.reference.ColumnReference` on
the binned path, so live counts in the same cells (:mod:`conveyor.monitoring.live_profile`)
are tested by the same code as files are (``DriftDetector.detect_counts``). The model's
predictions on the reference sample are profiled the same way, as :data:`PREDICTION`.

The file is JSON, ``{"format": "conveyor.reference-profile/1", ...}``: quantile edges as
base64 of little-endian float64 (exact, a third of the text), counts as numbers, sketches
as base64 of their own serialization. Never pickle: the file is read by every gateway.

>>> profile = build_profile(reference_df, predictions=model.predict(reference_df))  # doctest: +SKIP
>>> ReferenceProfile.from_json(profile.to_json()).digest == profile.digest  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from conveyor.errors import DataError
from conveyor.monitoring import sketches
from conveyor.monitoring.drift import bins, rules
from conveyor.monitoring.drift.reference import (
    ColumnReference,
    Shares,
    as_floats,
    fit_categorical,
    fit_numeric,
)
from conveyor.monitoring.profile_options import MAX_FEATURES

if TYPE_CHECKING:
    from conveyor.flavors.base import Array

FORMAT = "conveyor.reference-profile/1"
PREDICTION = "__prediction__"
"""The name the model's outputs go by in profiles and drift reports."""
# MAX_FEATURES (features profiled per model version: the first ones, in the reference's
# column order) lives in profile_options, which the server imports without scipy.
MAX_BINS = 2000
"""At most this many reference quantiles per numeric feature (plus its extreme values)."""
CHUNKS = 10
CALIBRATION_QUANTILE = 0.95
ALPHA = 0.05  # sets the grid's fineness (rules.ks_bins); the tests take any alpha later


@dataclass(frozen=True)
class FeatureProfile:
    """One feature of the reference: its fitted drift reference and its sketches.

    ``text``: the categories were stored as text (values JSON cannot hold, e.g. dates), so
    live values are compared as text too."""

    reference: ColumnReference
    quantiles: bytes | None = None  # KLL sketch of the finite values (numeric)
    frequent: bytes | None = None  # frequent-items sketch (categorical, binary)
    text: bool = False

    @property
    def name(self) -> str:
        return self.reference.name

    @property
    def kind(self) -> str:
        return self.reference.kind


@dataclass(frozen=True)
class ReferenceProfile:
    """Every profiled feature of a version's reference data, and its predictions'."""

    rows: int
    features: tuple[FeatureProfile, ...]
    prediction: FeatureProfile | None = None
    prediction_note: str = ""  # why there is no prediction profile, when there is none
    columns: int = 0  # columns of the reference, profiled or not

    @property
    def names(self) -> list[str]:
        """The profiled features, in order."""
        return [f.name for f in self.features]

    def feature(self, name: str) -> FeatureProfile:
        """The profile of feature ``name`` (or :data:`PREDICTION`); KeyError if none."""
        if name == PREDICTION and self.prediction is not None:
            return self.prediction
        for found in self.features:
            if found.name == name:
                return found
        raise KeyError(name)

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON: live windows carry it, so windows counted in
        another profile's cells are never merged with these."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        """The file's text (canonical: sorted keys, no spaces)."""
        data = {
            "format": FORMAT,
            "rows": self.rows,
            "columns": self.columns,
            "features": [_feature_json(f) for f in self.features],
            "prediction": _feature_json(self.prediction) if self.prediction else None,
            "prediction_note": self.prediction_note,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, where: str = "the reference profile") -> ReferenceProfile:
        """Parse :meth:`to_json`'s text; a DataError naming ``where`` if it is not one."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                found = data.get("format") if isinstance(data, dict) else type(data).__name__
                raise DataError(
                    f"{where} is not a {FORMAT} file (format: {found!r})",
                    hint="a newer Conveyor wrote it, or it is not a profile: delete it and it "
                    "is built again from reference.parquet",
                )
            prediction = data["prediction"]
            return cls(
                rows=int(data["rows"]),
                features=tuple(_feature_of(item) for item in data["features"]),
                prediction=_feature_of(prediction) if prediction is not None else None,
                prediction_note=str(data["prediction_note"]),
                columns=int(data["columns"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{where} is malformed: {type(exc).__name__}: {exc}") from exc


def build_profile(
    frame: pd.DataFrame,
    predictions: Array | None = None,
    *,
    prediction_note: str = "",
    max_features: int = MAX_FEATURES,
) -> ReferenceProfile:
    """Profile the first ``max_features`` columns of ``frame`` and, if given, the model's
    ``predictions`` on it (one value per row; other shapes are noted, not profiled)."""
    names = [str(c) for c in frame.columns][:max_features]
    features = tuple(_fit(name, frame[name]) for name in frame.columns[: len(names)])
    prediction, note = None, prediction_note
    if predictions is not None:
        outputs = np.asarray(predictions)
        if outputs.ndim == 2 and outputs.shape[1] == 1:
            outputs = outputs[:, 0]
        if outputs.ndim != 1 or len(outputs) != len(frame):
            note = f"predictions of shape {outputs.shape} are not profiled (one value per row is)"
        else:
            prediction = _fit(PREDICTION, pd.Series(outputs))
    elif not note:
        note = "no predictions on the reference data were recorded"
    return ReferenceProfile(len(frame), features, prediction, note, len(frame.columns))


def load_profile(directory: Path) -> ReferenceProfile | None:
    """The profile stored in a model directory, else one built from its
    ``reference.parquet`` (no predictions then), else None (no reference data)."""
    from conveyor.modelpack import PROFILE_FILE, REFERENCE_FILE

    stored = directory / PROFILE_FILE
    if stored.is_file():
        try:
            text = stored.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {stored}: {exc}") from exc
        return ReferenceProfile.from_json(text, str(stored))
    data = directory / REFERENCE_FILE
    if not data.is_file():
        return None
    note = f"saved before reference profiles existed: built from {REFERENCE_FILE}, no predictions"
    try:
        frame = pd.read_parquet(data)
    except (OSError, ValueError) as exc:  # pyarrow's errors are both
        raise DataError(f"cannot read {data}: {exc}") from exc
    return build_profile(frame, prediction_note=note)


def _fit(name: Any, values: pd.Series) -> FeatureProfile:
    label = str(name)
    kind = rules.column_kind(values)
    if kind == "numeric":
        reference = fit_numeric(
            label, values, CHUNKS, CALIBRATION_QUANTILE, alpha=ALPHA, max_bins=MAX_BINS
        )
        kll = None
        if sketches.available():
            data = as_floats(values)
            kll = sketches.quantiles(data[np.isfinite(data)]).serialize()
        return FeatureProfile(reference, quantiles=kll)
    reference = fit_categorical(label, kind, values, CHUNKS, CALIBRATION_QUANTILE)
    plain = all(_plain(v) for v in reference.categories.tolist())
    if not plain:  # dates and other objects: kept and compared as text
        text = pd.Index([str(v) for v in reference.categories.tolist()])
        reference = _with_categories(reference, text)
    frequent = None
    if sketches.available():
        sketch = sketches.frequent()
        sketches.add_counts(sketch, reference.categories.tolist(), reference.counts.tolist())
        frequent = sketch.serialize()
    return FeatureProfile(reference, frequent=frequent, text=not plain)


def _plain(value: object) -> bool:
    """A value JSON keeps as it is (finite numbers, text, booleans)."""
    if isinstance(value, float):
        return bool(np.isfinite(value))
    return isinstance(value, str | int | bool)


def _with_categories(ref: ColumnReference, categories: pd.Index) -> ColumnReference:
    return ColumnReference(
        ref.name, ref.kind, ref.shares, ref.thresholds, categories=categories,
        counts=ref.counts, calibrated_chunks=ref.calibrated_chunks,
    )  # fmt: skip


def _feature_json(feature: FeatureProfile) -> dict[str, Any]:
    ref = feature.reference
    out: dict[str, Any] = {
        "name": ref.name,
        "kind": ref.kind,
        "rows": ref.shares.rows,
        "missing": ref.shares.missing,
        "non_finite": ref.shares.non_finite,
        "new": ref.shares.new,
        "thresholds": ref.thresholds,
        "calibrated_chunks": ref.calibrated_chunks,
    }
    if ref.kind == "numeric":
        found = ref.bins
        out["scale"] = ref.scale
        out["edges"] = _floats(found.edges if found is not None else np.empty(0))
        out["cells"] = bins.reference_cells(found).tolist() if found is not None else []
        out["quantiles"] = _b64(feature.quantiles)
    else:
        out["categories"] = ref.categories.tolist()
        out["text"] = feature.text
        out["counts"] = ref.counts.tolist()
        out["frequent"] = _b64(feature.frequent)
    return out


def _feature_of(data: dict[str, Any]) -> FeatureProfile:
    kind = data["kind"]
    if kind not in ("numeric", "categorical", "binary"):
        raise ValueError(f"unknown feature kind {kind!r}")
    shares = Shares(
        int(data["rows"]), int(data["missing"]), int(data["non_finite"]), int(data["new"])
    )
    thresholds = {str(k): float(v) for k, v in dict(data["thresholds"]).items()}
    common: dict[str, Any] = {"calibrated_chunks": int(data["calibrated_chunks"])}
    if kind == "numeric":
        edges = _floats_of(data["edges"])
        cells = np.asarray(data["cells"], dtype=np.int64)
        if len(edges) and len(cells) != 2 * len(edges) + 1:
            raise ValueError(f"{len(cells)} cells for {len(edges)} edges")
        found = bins.from_cells(edges, cells) if len(edges) else None
        ref = ColumnReference(
            str(data["name"]), "numeric", shares, thresholds, bins=found,
            scale=float(data["scale"]), **common,
        )  # fmt: skip
        return FeatureProfile(ref, quantiles=_bytes_of(data["quantiles"]))
    categories = pd.Index(list(data["categories"]))
    counts = np.asarray(data["counts"], dtype=np.int64)
    if len(counts) != len(categories):
        raise ValueError(f"{len(counts)} counts for {len(categories)} categories")
    ref = ColumnReference(
        str(data["name"]), kind, shares, thresholds, categories=categories, counts=counts,
        **common,
    )  # fmt: skip
    return FeatureProfile(ref, frequent=_bytes_of(data["frequent"]), text=bool(data["text"]))


def _floats(values: np.ndarray[Any, Any]) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f8").tobytes()).decode("ascii")


def _floats_of(text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").astype(np.float64)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _bytes_of(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
