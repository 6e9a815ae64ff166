"""Mergeable sketches for display, from Apache DataSketches: quantiles (KLL) and frequent items.

A profile keeps one per feature beside its exact counts (:mod:`conveyor.monitoring.drift.counts`):
the KLL sketch answers "what are the live quartiles" and gives bin edges for a new
reference, the frequent-items sketch names the most common values (the new categories a
drift report lists). Neither decides drift: KS on a sketch's CDF is unstable (whylogs
#684), the tests run on the counts. Both serialize to a few kilobytes and merge across
workers and replicas (``merge``).

``datasketches`` comes with ``conveyor-ml[serving]``; where it is not installed (a
``[models]``-only install saving a model) the profile simply has no sketches
(:func:`available`), the counts and the tests are the same.

>>> kll = quantiles(np.array([1.0, 2.0, 3.0]))  # doctest: +SKIP
>>> kll.get_quantiles([0.5]), load_quantiles(kll.serialize()).n  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import numpy.typing as npt

KLL_K = 200
"""KLL accuracy parameter of reference profiles: rank error about 1.3 %, ~5 KB a sketch."""
LIVE_KLL_K = 100
"""Of live windows (one sketch per feature per window and writer): rank error about 2.6 %,
~2 KB a sketch; enough to show quantiles, and half the bytes in the store."""
FREQUENT_LG_MAP = 6
"""Frequent-items map of 2^6 = 64 slots: the top values of a column, tens of bytes each."""
TEXT_LIMIT = 64
"""A value longer than this is cut before it enters a frequent-items sketch."""


def available() -> bool:
    """Whether ``datasketches`` is installed."""
    return importlib.util.find_spec("datasketches") is not None


def quantiles(values: npt.NDArray[np.float64] | None = None, k: int = KLL_K) -> Any:
    """A KLL sketch of ``values`` (finite numbers only: the caller filters), one vectorised
    update."""
    from datasketches import kll_doubles_sketch

    sketch = kll_doubles_sketch(k)
    if values is not None and len(values):
        sketch.update(np.ascontiguousarray(values, dtype=np.float64))
    return sketch


def load_quantiles(data: bytes) -> Any:
    """A KLL sketch from its bytes."""
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch.deserialize(data)


def frequent(lg_map: int = FREQUENT_LG_MAP) -> Any:
    """An empty frequent-strings sketch."""
    from datasketches import frequent_strings_sketch

    return frequent_strings_sketch(lg_map)


def load_frequent(data: bytes) -> Any:
    """A frequent-strings sketch from its bytes."""
    from datasketches import frequent_strings_sketch

    return frequent_strings_sketch.deserialize(data)


def add_counts(sketch: Any, values: list[Any], counts: list[int]) -> None:
    """Add each distinct value once with its count as the weight (the caller counted them,
    vectorised): one call per distinct value, never one per row."""
    for value, count in zip(values, counts, strict=True):
        if count > 0:
            sketch.update(str(value)[:TEXT_LIMIT], int(count))


def top(sketch: Any, limit: int = 10) -> list[tuple[str, int]]:
    """The most frequent values and their estimated counts (at most ``limit``), largest
    first; every value whose true count exceeds the sketch's error is among them."""
    from datasketches import frequent_items_error_type

    items = sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
    return [(str(item[0]), int(item[1])) for item in items[:limit]]
