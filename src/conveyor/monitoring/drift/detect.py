"""Drift of a current frame against a reference frame: fit once, compare many times.

Example::

    from conveyor.monitoring.drift import DriftDetector, detect_drift

    report = detect_drift(reference_df, current_df)          # one-off
    print(report.statement); report.as_dict()                # the CLI's JSON

    detector = DriftDetector(alpha=0.01, correction="bonferroni").fit(reference_df)
    for window in windows:                                    # the reference is fitted once
        detector.detect(window)

How each column is judged: ``rules.py``; the correction: ``multiple.py``; the calibrated
thresholds: ``calibrate.py``; the verdict: ``report.VERDICT_RULE``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from conveyor.errors import ConfigError, DataError
from conveyor.monitoring.drift import multiple, rules
from conveyor.monitoring.drift.compare import compare_column, compare_counts
from conveyor.monitoring.drift.counts import ColumnCounts
from conveyor.monitoring.drift.reference import (
    ColumnReference,
    Shares,
    fit_categorical,
    fit_numeric,
)
from conveyor.monitoring.drift.report import DriftReport, FeatureDrift, Signal, verdict

DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


class DriftDetector:
    """Per-feature drift tests with multiple-testing control and calibrated thresholds.

    Parameters (keyword-only, validated when constructed):
        alpha: the level of the (corrected) tests, in (0, 1).
        correction: ``"bh"`` (Benjamini-Hochberg), ``"bonferroni"`` or ``"none"``.
        chunks: reference chunks for the leave-one-out calibration (>= 2).
        calibration_quantile: the quantile of the chunk effects used as threshold.
        large_n: effective sample size from which effect floors apply (rules.LARGE_N).
        kinds: per-column overrides of the inferred kind (numeric/categorical/binary).
        workers: threads across columns (numpy releases the GIL while sorting).
        ks_binned_min_ref: finite reference values from which KS may run on the reference's
            quantile bins (rules.KS_BINNED_MIN_REF; see rules.ks_method).

    After :meth:`fit`: ``columns_`` (the fitted columns) and ``n_reference_``.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        correction: str = "bh",
        chunks: int = 10,
        calibration_quantile: float = 0.95,
        large_n: int = rules.LARGE_N,
        kinds: dict[str, str] | None = None,
        workers: int = DEFAULT_WORKERS,
        ks_binned_min_ref: int = rules.KS_BINNED_MIN_REF,
    ) -> None:
        self.alpha = alpha
        self.correction = correction
        self.chunks = chunks
        self.calibration_quantile = calibration_quantile
        self.large_n = large_n
        self.kinds = dict(kinds or {})
        self.workers = workers
        self.ks_binned_min_ref = ks_binned_min_ref
        self._validate()
        self.columns_: dict[str, ColumnReference] = {}
        self.n_reference_ = 0

    def _validate(self) -> None:
        problems = []
        if not (isinstance(self.alpha, float | int) and 0.0 < self.alpha < 1.0):
            problems.append(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.correction not in multiple.CORRECTIONS:
            problems.append(
                f"correction must be one of {multiple.CORRECTIONS}, got {self.correction!r}"
            )
        if not (isinstance(self.chunks, int) and self.chunks >= 2):
            problems.append(f"chunks must be an integer >= 2, got {self.chunks!r}")
        if not (0.0 < self.calibration_quantile <= 1.0):
            problems.append(
                f"calibration_quantile must be in (0, 1], got {self.calibration_quantile!r}"
            )
        if not (isinstance(self.large_n, int) and self.large_n >= 1):
            problems.append(f"large_n must be a positive integer, got {self.large_n!r}")
        bad = {k: v for k, v in self.kinds.items() if v not in ("numeric", "categorical", "binary")}
        if bad:
            problems.append(f"kinds must be numeric, categorical or binary; got {bad}")
        if not (isinstance(self.workers, int) and self.workers >= 1):
            problems.append(f"workers must be an integer >= 1, got {self.workers!r}")
        if not (isinstance(self.ks_binned_min_ref, int) and self.ks_binned_min_ref >= 1):
            problems.append(
                f"ks_binned_min_ref must be a positive integer, got {self.ks_binned_min_ref!r}"
            )
        if problems:
            raise ConfigError("drift detection: " + "; ".join(problems))

    def fit(self, reference: pd.DataFrame, columns: Sequence[str] | None = None) -> DriftDetector:
        """Fit every reference column (or ``columns``) once; returns ``self``."""
        if not isinstance(reference, pd.DataFrame):
            raise DataError(
                f"the reference must be a pandas DataFrame, got {type(reference).__name__}"
            )
        names = list(reference.columns) if columns is None else list(columns)
        absent = [c for c in names if c not in reference.columns]
        if absent:
            raise DataError(
                f"columns {absent} are not in the reference data",
                hint=f"the reference has {list(reference.columns)[:20]}",
            )

        def fit_one(name: str) -> ColumnReference:
            with np.errstate(over="ignore", invalid="ignore"):  # 1e308s: inf effects, no crash
                return _fit_one(name)

        def _fit_one(name: str) -> ColumnReference:
            values = reference[name]
            kind = self.kinds.get(str(name)) or rules.column_kind(values)
            if kind == "numeric":
                return fit_numeric(
                    str(name),
                    values,
                    self.chunks,
                    self.calibration_quantile,
                    alpha=float(self.alpha),
                    binned_min_ref=self.ks_binned_min_ref,
                )
            return fit_categorical(str(name), kind, values, self.chunks, self.calibration_quantile)  # type: ignore[arg-type]

        with ThreadPoolExecutor(self.workers) as pool:
            fitted = list(pool.map(fit_one, names))
        self.columns_ = {c.name: c for c in fitted}
        self.n_reference_ = len(reference)
        return self

    def detect(self, current: pd.DataFrame) -> DriftReport:
        """Compare ``current`` with the fitted reference: the report, never an exception
        for data problems (empty windows, NaN, inf, missing or extra columns)."""
        if not self.columns_ and self.n_reference_ == 0:
            raise ConfigError("drift detection: call fit(reference) before detect(current)")
        if not isinstance(current, pd.DataFrame):
            raise DataError(
                f"the current data must be a pandas DataFrame, got {type(current).__name__}"
            )
        present = [name for name in self.columns_ if name in current.columns]
        n_tests = 4 * max(len(self.columns_), 1)  # Bonferroni level for the MDEs
        alpha_mde = self.alpha / n_tests

        def compare_one(name: str) -> tuple[str, list[Signal], dict[str, float]]:
            ref = self.columns_[name]
            with np.errstate(over="ignore", invalid="ignore"):
                signals, cur = compare_column(
                    ref, current[name], alpha_mde=alpha_mde, large_n=self.large_n
                )
            return name, signals, _share_table(ref, cur)

        with ThreadPoolExecutor(self.workers) as pool:
            compared = list(pool.map(compare_one, present))
        names = [str(n) for n in current.columns]
        return self._report(compared, names, len(current))

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, ColumnReference], n_reference: int, **params: Any
    ) -> DriftDetector:
        """A detector whose reference columns were fitted already (a stored reference
        profile, :mod:`conveyor.monitoring.profile`), with these ``params``."""
        detector = cls(**params)
        detector.columns_ = dict(columns)
        detector.n_reference_ = n_reference
        return detector

    def detect_counts(self, current: Mapping[str, ColumnCounts], rows: int) -> DriftReport:
        """:meth:`detect` for a current window kept as counts per column (the gateway's
        live profiles: :mod:`conveyor.monitoring.drift.counts`): the same signals,
        correction and verdict; a reference column without counts is missing, counts of a
        column the reference lacks are listed. Numeric reference columns need their bins
        (``fit_numeric(..., max_bins=...)``)."""
        if not self.columns_ and self.n_reference_ == 0:
            raise ConfigError("drift detection: call fit(reference) before detect_counts()")
        alpha_mde = self.alpha / (4 * max(len(self.columns_), 1))
        compared = []
        for name, ref in self.columns_.items():
            if name in current:
                with np.errstate(over="ignore", invalid="ignore"):
                    signals, cur = compare_counts(
                        ref, current[name], alpha_mde=alpha_mde, large_n=self.large_n
                    )
                compared.append((name, signals, _share_table(ref, cur)))
        return self._report(compared, list(current), rows)

    def _report(
        self,
        compared: list[tuple[str, list[Signal], dict[str, float]]],
        current_columns: list[str],
        n_current: int,
    ) -> DriftReport:
        decided = self._decide([signals for _, signals, _ in compared])
        features = [
            _feature(self.columns_[name], signals, shares)
            for (name, _, shares), signals in zip(compared, decided, strict=True)
        ]
        present = set(current_columns)
        features += [_absent(self.columns_[n]) for n in self.columns_ if n not in present]
        features += [_extra(n) for n in current_columns if n not in self.columns_]
        status, statement = verdict(tuple(features))
        return DriftReport(
            status, tuple(features), statement, float(self.alpha), self.correction,
            self.n_reference_, n_current,
        )  # fmt: skip

    def _decide(self, per_column: list[list[Signal]]) -> list[list[Signal]]:
        """Adjust every p-value of the report together, then decide each signal."""
        flat = [s for signals in per_column for s in signals]
        adjusted = multiple.adjust([s.p_value for s in flat], self.correction)  # type: ignore[arg-type]
        out: list[list[Signal]] = []
        i = 0
        for signals in per_column:
            row = []
            for s in signals:
                p_adj = float(adjusted[i])
                i += 1
                drifted = (not math.isnan(p_adj)) and p_adj <= self.alpha and s.effect > s.threshold
                row.append(replace(s, p_adjusted=p_adj, drifted=drifted))
            out.append(row)
        return out


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    correction: str = "bh",
    alpha: float = 0.05,
    **settings: object,
) -> DriftReport:
    """Fit ``reference`` and compare ``current`` with it (see :class:`DriftDetector`)."""
    detector = DriftDetector(alpha=alpha, correction=correction, **settings)  # type: ignore[arg-type]
    return detector.fit(reference, columns).detect(current)


def _share_table(ref: ColumnReference, cur: Shares) -> dict[str, float]:
    out = {
        "missing_share_ref": _ratio(ref.shares.missing, ref.shares.rows),
        "missing_share_cur": _ratio(cur.missing, cur.rows),
    }
    if ref.kind == "numeric":
        out["non_finite_share_ref"] = _ratio(ref.shares.non_finite, ref.shares.rows)
        out["non_finite_share_cur"] = _ratio(cur.non_finite, cur.rows)
    else:
        out["new_category_share_cur"] = _ratio(cur.new, cur.rows - cur.missing)
    return out


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _feature(ref: ColumnReference, signals: list[Signal], shares: dict[str, float]) -> FeatureDrift:
    main = signals[0]
    fired = [s for s in signals if s.drifted]
    if fired:
        status = "drift"
        why = "drifted: " + "; ".join(s.explanation for s in fired)
    elif not main.tested:
        status = "insufficient_data"
        why = main.explanation
    else:
        status = "ok"
        why = "no drift: " + main.explanation
    return FeatureDrift(ref.name, ref.kind, status, tuple(signals), shares, why)  # type: ignore[arg-type]


def _absent(ref: ColumnReference) -> FeatureDrift:
    why = (
        f"column {ref.name!r} is in the reference but not in the current data "
        "(counted as drift: the model's input lost a feature)"
    )
    return FeatureDrift(ref.name, ref.kind, "missing_in_current", (), {}, why)


def _extra(name: str) -> FeatureDrift:
    why = f"column {name!r} is in the current data but not in the reference: not judged"
    return FeatureDrift(name, "unknown", "not_in_reference", (), {}, why)
