"""What serving a model costs: single-row predict latency and the size of its files.

Latency is measured in this process, on this machine, through
:meth:`~conveyor.modelpack.LoadedModel.predict` (signature conform included), one row per
call, as an online service would call it. Rows are sliced before the clock starts.

>>> single_row_latency(model, holdout_features, calls=200).p95_ms  # doctest: +SKIP
0.41
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from conveyor.errors import DataError, InvalidValue
from conveyor.evaluation.results import Latency

if TYPE_CHECKING:
    from conveyor.modelpack import LoadedModel

WARMUP_CALLS = 10  # untimed calls first: lazy initialisation, caches, allocator


def single_row_latency(model: LoadedModel, features: pd.DataFrame, calls: int = 200) -> Latency:
    """Time ``calls`` one-row predicts (rows taken in turn from ``features``) after a warm-up.

    Each call is timed with :func:`time.perf_counter_ns`; the result holds the 50th, 95th
    and 99th percentiles (numpy's linear interpolation) in milliseconds.
    """
    if calls < 1:
        raise InvalidValue(f"latency needs at least one call, got calls={calls}")
    if len(features) == 0:
        raise DataError("latency needs at least one row of features; the data has none")
    rows = [features.iloc[[i]] for i in range(min(len(features), calls))]
    elapsed = np.empty(calls, dtype=np.int64)
    # A library's warning per call (scikit-learn's "X has feature names" for a model fitted
    # on arrays) would flood the terminal and be timed too; evaluation already predicted
    # these rows, where any warning was shown once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(WARMUP_CALLS):
            model.predict(rows[i % len(rows)])
        for i in range(calls):
            row = rows[i % len(rows)]
            start = time.perf_counter_ns()
            model.predict(row)
            elapsed[i] = time.perf_counter_ns() - start
    p50, p95, p99 = np.percentile(elapsed / 1e6, [50, 95, 99])
    return Latency(calls=calls, p50_ms=float(p50), p95_ms=float(p95), p99_ms=float(p99))


def model_size_bytes(directory: Path) -> int:
    """The total size in bytes of the files under ``directory`` (links not followed)."""
    return sum(path.lstat().st_size for path in Path(directory).rglob("*") if path.is_file())
