"""Turning a chunk's columns into the schema's dtypes, strictly, and saying what did not fit.

pandera can coerce (``Column(coerce=True)``), but coercion is ``astype``: it truncates 1.5
to 1 for an ``int64`` column and turns every non-empty string, ``"False"`` included, into
``True`` for a ``bool`` one. So the conversion is done here, value by value, and what does
not convert becomes a ``dtype`` finding with the offending values; pandera then checks the
converted frame (nullability, bounds, categories, uniqueness, expressions).

A value that does not convert is set to null, and the null is not reported a second time
(see ``check.py``). Integer and boolean columns that hold nulls become pandas' nullable
``Int64``/``boolean`` dtypes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.validation.schema import DTYPES, ColumnSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["BadValues", "convert_frame", "dtype_name"]

Converted = tuple["pd.Series", "np.ndarray | None", tuple[str, str]]
BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


@dataclass(frozen=True)
class BadValues:
    """The values of one column that are not of its dtype."""

    column: str
    found: str  # the dtype the file gave, e.g. "str"
    reason: tuple[str, str]  # what they are not, said of one and of many: "a number", "numbers"
    mask: np.ndarray  # one bool per row of the chunk


def convert_frame(
    frame: pd.DataFrame, columns: Mapping[str, ColumnSpec]
) -> tuple[pd.DataFrame, list[BadValues]]:
    """``frame`` with each declared column in its dtype, and the values that did not fit."""
    converted = {}
    bad: list[BadValues] = []
    for name in frame.columns:
        spec = columns.get(name)
        if spec is None:
            continue
        series, mask, reason = convert_series(frame[name], spec.dtype)
        converted[name] = series
        if mask is not None and mask.any():
            bad.append(BadValues(name, str(frame[name].dtype), reason, mask))
    if not converted:
        return frame, bad
    out = frame.copy(deep=False)
    for name, series in converted.items():
        out[name] = series
    return out, bad


def convert_series(series: pd.Series, dtype: str) -> Converted:
    """``series`` as ``dtype``; the mask of values that did not convert (None: all did)."""
    from conveyor.validation.schema import kind_of

    kind = kind_of(dtype)
    if kind == "float":
        return _to_float(series, dtype)
    if kind == "int":
        return _to_int(series, dtype)
    if kind == "bool":
        return _to_bool(series)
    if kind == "datetime":
        return _to_datetime(series)
    if kind == "category" and str(series.dtype) == "category":
        return series, None, ("text", "text")
    text, mask, reason = _to_text(series)
    return (text.astype("category") if kind == "category" else text), mask, reason


def _numbers(series: pd.Series) -> tuple[pd.Series, np.ndarray | None]:
    """Numeric values (float64 where they had to be parsed) and the mask of non-numbers."""
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(series.dtype):
        return series.astype("float64"), series.notna().to_numpy()
    if types.is_numeric_dtype(series.dtype):
        return series, None
    parsed = pd.to_numeric(series, errors="coerce")
    return parsed, (series.notna() & parsed.isna()).to_numpy()


def _to_float(series: pd.Series, dtype: str) -> Converted:
    values, mask = _numbers(series)
    if mask is not None and mask.any():
        values = values.where(~mask)
    return values.astype(dtype), mask, ("a number", "numbers")


def _to_int(series: pd.Series, dtype: str) -> Converted:
    import numpy as np

    within = "" if dtype == "int64" else f" in the {dtype} range"
    reason = (f"a whole number{within}", f"whole numbers{within}")
    if series.dtype == dtype and not series.hasnans:  # numpy integers: no nulls, no fractions
        return series, None, reason
    values, mask = _numbers(series)
    as_float = values.astype("float64")
    info = np.iinfo(dtype)
    fits = (as_float % 1 == 0) & (as_float >= info.min) & (as_float <= info.max)
    wrong = (values.notna() & ~fits).to_numpy()
    mask = wrong if mask is None else (mask | wrong)
    kept = values.where(~mask) if mask.any() else values
    nullable = dtype[0].upper() + dtype[1:] if dtype[0] == "i" else "U" + dtype[1:].capitalize()
    return kept.astype(nullable if kept.hasnans else dtype), mask, reason


def _to_bool(series: pd.Series) -> Converted:
    from pandas.api import types

    reason = ("true/false", "true/false")
    if types.is_bool_dtype(series.dtype):
        return series, None, reason
    words = series.astype("str").str.strip().str.lower().map(BOOL_WORDS)
    mask = (series.notna() & words.isna()).to_numpy()
    values = words.astype("boolean")
    return (values if values.hasnans else values.astype(bool)), mask, reason


def _to_datetime(series: pd.Series) -> Converted:
    import pandas as pd
    from pandas.api import types

    reason = ("an ISO 8601 date", "ISO 8601 dates")
    if types.is_datetime64_any_dtype(series.dtype):
        return series, None, reason
    if types.is_numeric_dtype(series.dtype) or types.is_bool_dtype(series.dtype):
        return (
            series.where(series.isna()).astype("datetime64[ns]"),
            series.notna().to_numpy(),
            reason,
        )
    try:
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):  # offsets that differ between rows
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
    return parsed, (series.notna() & parsed.isna()).to_numpy(), reason


def _to_text(series: pd.Series) -> Converted:
    import pandas as pd
    from pandas.api import types

    reason = ("text", "text")
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or (
        types.is_string_dtype(dtype) and not _is_object(dtype)
    ):
        return series.astype("str"), None, reason
    if _is_object(dtype) and types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return series.astype("str"), None, reason
    if _is_object(dtype):
        mask = (series.notna() & ~series.map(_is_text, na_action="ignore").astype(bool)).to_numpy()
    else:  # numbers, booleans, dates: none of them is text
        mask = series.notna().to_numpy()
    return series.where(~mask).astype("str"), mask, reason


def _is_object(dtype: Any) -> bool:
    return str(dtype) == "object"


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def dtype_name(series: pd.Series) -> str | None:
    """The schema dtype that describes ``series`` as read (None: none does).

    Columns of Python objects are named by their values (pandas reads a CSV column of
    booleans with empty cells as objects).
    """
    import pandas as pd
    from pandas.api import types

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_integer_dtype(dtype) or types.is_float_dtype(dtype):
        name = str(dtype).lower()
        return name if name in DTYPES else ("int64" if "int" in name else "float64")
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if _is_object(dtype):
        inferred = types.infer_dtype(series, skipna=True)
        named = {"boolean": "bool", "integer": "int64", "floating": "float64"}
        return named.get(inferred, "string")
    if types.is_string_dtype(dtype):
        return "string"
    return None
