"""Uniqueness across chunks: the values of a column seen in earlier chunks.

pandera checks ``unique`` within each chunk; this remembers what earlier chunks held.

Memory: one 64-bit key per distinct value, kept sorted in a numpy array: 8 bytes a value,
so 10 million distinct values cost 80 MB (twice that for a moment while a chunk is merged
in). Integers and floats are keyed by their exact bits; text, categories and dates by
pandas' 64-bit hash of the value: two different values share a key with
probability about n²/2⁶⁵ (3 in a million for 10 million values); a collision would report
a false repeat, never hide a real one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["SeenValues", "keys_of", "sorted_unique"]


class SeenValues:
    """The keys of one column's values in the chunks seen so far."""

    def __init__(self) -> None:
        import numpy as np

        self._keys = np.empty(0, dtype="uint64")

    def repeated(self, series: pd.Series) -> np.ndarray:
        """Mask of the values already seen in an earlier chunk; then remembers these."""
        import numpy as np

        present = series.notna().to_numpy()
        keys = keys_of(series[present])
        at = np.searchsorted(self._keys, keys)
        hit = np.zeros(len(keys), dtype=bool)
        inside = at < len(self._keys)
        hit[inside] = self._keys[at[inside]] == keys[inside]
        new = sorted_unique(keys[~hit])
        self._keys = np.insert(self._keys, np.searchsorted(self._keys, new), new)  # O(n + m)
        mask = np.zeros(len(series), dtype=bool)
        mask[present] = hit
        return mask


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """The distinct keys, sorted (a sort and a comparison: no hash table)."""
    import numpy as np

    ordered = np.sort(keys)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    distinct: np.ndarray = ordered[keep]
    return distinct


def keys_of(series: pd.Series) -> np.ndarray:
    """One uint64 key per value (no nulls): exact for numbers, hashed for anything else."""
    import numpy as np
    import pandas as pd
    from pandas.api import types

    dtype = series.dtype
    if types.is_bool_dtype(dtype):
        keys: np.ndarray = series.to_numpy(dtype="uint64")
        return keys
    if types.is_integer_dtype(dtype):
        wide = "uint64" if str(dtype).lower() == "uint64" else "int64"
        keys = series.to_numpy(dtype=wide).view("uint64")
        return keys
    if types.is_float_dtype(dtype):
        keys = (series.to_numpy(dtype="float64") + 0.0).view("uint64")  # -0.0 is 0.0
        return keys
    return np.asarray(pd.util.hash_pandas_object(series, index=False), dtype="uint64")
