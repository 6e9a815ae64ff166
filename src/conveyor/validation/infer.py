"""Inferring a schema from training data, for a person to review and commit.

Two passes over the file, a chunk at a time (memory bounded like validation):

1. the dtype of each column, merged over chunks: pandas guesses each CSV chunk's types
   on its own, so integers in one chunk and floats in another make ``float64``, anything
   else that disagrees makes ``string``; a chunk where the column is empty has no say;
2. the file read again exactly as validation reads it, converted to those dtypes, and
   per column: nulls, min/max, distinct values (up to 20), uniqueness.

So the data always passes the schema inferred from it. pandera's own ``infer_schema``
is not used: it needs the whole frame in memory and infers neither categories of text
columns, uniqueness nor row counts.

Defaults, and why:

- ``min``/``max``: the smallest and largest values seen, exactly, unless a
  :class:`~conveyor.validation.ranges.RangeRule` asks for a margin or quantiles (new data,
  a holdout, is often slightly outside the training data's extremes); a reviewer widens
  them where new data may legitimately go further;
- ``allowed``: text, category and bool columns with at most 20 distinct values that
  repeat (an identifier is not a category);
- ``unique``: integer and text columns with at least 2 values, all different (floats
  are measurements, equal by accident or not at all); such a column is an identifier, so
  it gets no ``min``/``max``: new rows bring new identifiers;
- ``rows``: 10% to 10x the rows seen: catches a truncated or duplicated extract, not
  normal growth;
- ``strict: false``: new columns are allowed until someone decides otherwise.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import DataError
from conveyor.validation.convert import convert_frame, dtype_name
from conveyor.validation.ranges import RangeRule, ValueSample
from conveyor.validation.reader import DEFAULT_CHUNK_ROWS, iter_chunks
from conveyor.validation.schema import ColumnSpec, DataSchema, RowBounds, kind_of
from conveyor.validation.schema_file import dump_schema
from conveyor.validation.unique import SeenValues, keys_of, sorted_unique

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["InferredSchema", "infer_frame", "infer_schema"]

MAX_ALLOWED = 20
HEADER_WIDTH = 88  # the header comment's lines, before '# '
ROWS_MIN_SHARE = 10  # rows.min = rows seen // 10
ROWS_MAX_FACTOR = 10  # rows.max = rows seen * 10

Chunks = Callable[[list[str]], Iterable["pd.DataFrame"]]


@dataclass(frozen=True)
class InferredSchema:
    """A schema inferred from ``source``, with what the header comment says about it."""

    schema: DataSchema
    source: str
    rows: int
    left_out: dict[str, str] = field(default_factory=dict)  # column -> its dtype
    ranges: RangeRule = field(default_factory=RangeRule)

    def to_yaml(self, when: datetime | None = None) -> str:
        """The schema file's text, a header comment first."""
        day = (when or datetime.now(UTC)).strftime("%Y-%m-%d")
        header = [
            f"Data schema for `conveyor validate`, inferred from {self.source}",
            f"({self.rows:,} rows, {len(self.schema.columns)} columns) on {day}.",
            "REVIEW BEFORE COMMITTING: bounds, categories and uniqueness are what this file",
            "showed, not necessarily what all future data must satisfy. See docs/validation.md.",
            *textwrap.wrap(
                f"min/max: {self.ranges.describe()}.",
                width=HEADER_WIDTH,
                initial_indent="  ",
                subsequent_indent="  ",
            ),
            *self._options(),
            f"  allowed: text/category/bool columns with at most {MAX_ALLOWED} distinct, repeating",
            "  values; unique: integer or text columns whose values all differed (identifiers:",
            "  no min/max).",
            f"  rows: {100 // ROWS_MIN_SHARE}% to {ROWS_MAX_FACTOR}x the {self.rows:,} rows seen, "
            "to catch a truncated or",
            "  duplicated extract; widen it for data of another size (a daily batch, a holdout).",
        ]
        if self.left_out:
            shown = ", ".join(f"{name} ({dtype})" for name, dtype in self.left_out.items())
            header.append(f"  left out (no schema dtype describes them): {shown}")
        return dump_schema(self.schema, header)

    def _options(self) -> list[str]:
        options = self.ranges.options()
        return [f"  (inferred with {options})"] if options else []


def infer_schema(
    data: Path, *, chunk_rows: int | None = None, ranges: RangeRule | None = None
) -> InferredSchema:
    """Infer a schema from a CSV or Parquet file (see the module docstring for the rules).

    Example::

        inferred = infer_schema(Path("data/train.csv"))
        Path("schemas/train.yaml").write_text(inferred.to_yaml())
        wider = infer_schema(Path("data/train.csv"), ranges=RangeRule(margin=0.1))
    """
    size = chunk_rows or DEFAULT_CHUNK_ROWS
    rows, dtypes, left_out = _dtypes(iter_chunks(data, size))
    if rows == 0:
        raise DataError(f"{data} has no rows: there is nothing to infer a schema from")

    def chunks(text: list[str]) -> Iterator[pd.DataFrame]:
        return iter_chunks(data, size, text)

    rule = ranges or RangeRule()
    return InferredSchema(_infer(chunks, dtypes, rows, rule), str(data), rows, left_out, rule)


def infer_frame(frame: pd.DataFrame, *, ranges: RangeRule | None = None) -> DataSchema:
    """Infer a schema from an in-memory frame (same rules as :func:`infer_schema`)."""
    if frame.empty:
        raise DataError("the frame has no rows: there is nothing to infer a schema from")
    rows, dtypes, _ = _dtypes([frame])
    return _infer(lambda text: [frame], dtypes, rows, ranges or RangeRule())


def _dtypes(chunks: Iterable[pd.DataFrame]) -> tuple[int, dict[str, str], dict[str, str]]:
    """Pass 1: rows, the merged dtype of each column, and the columns left out."""
    rows = 0
    merged: dict[str, str | None] = {}  # None: empty in every chunk so far
    first: dict[str, str] = {}  # the first chunk's dtype: what an all-empty column gets
    left_out: dict[str, str] = {}
    for chunk in chunks:
        rows += len(chunk)
        for name in chunk.columns:
            series = chunk[name]
            named = dtype_name(series)
            if named is None:
                left_out.setdefault(name, str(series.dtype))
                continue
            first.setdefault(name, named)
            if series.notna().any():
                before = merged.get(name)
                merged[name] = named if before is None else _merge(before, named)
            else:
                merged.setdefault(name, None)
    dtypes = {name: merged.get(name) or first[name] for name in first if name not in left_out}
    return rows, dtypes, left_out


def _merge(a: str, b: str) -> str:
    if a == b:
        return a
    kinds = {kind_of(a), kind_of(b)}
    if kinds == {"int"}:
        return "int64"
    if kinds <= {"int", "float"}:
        return "float64"
    return "string"


def _infer(chunks: Chunks, dtypes: dict[str, str], rows: int, ranges: RangeRule) -> DataSchema:
    """Pass 2: per-column statistics over the data converted to ``dtypes``."""
    provisional = {name: ColumnSpec(dtype=dtype, nullable=True) for name, dtype in dtypes.items()}
    text = [name for name, dtype in dtypes.items() if kind_of(dtype) in ("string", "category")]
    stats = {name: _ColumnStats(dtype, ranges) for name, dtype in dtypes.items()}
    for chunk in chunks(text):
        typed, _ = convert_frame(chunk, provisional)
        for name, column in stats.items():
            column.add(typed[name])
    bounds = RowBounds(min=max(1, rows // ROWS_MIN_SHARE), max=rows * ROWS_MAX_FACTOR)
    columns = {name: column.spec() for name, column in stats.items()}
    return DataSchema(rows=bounds, strict=False, columns=columns)


class _ColumnStats:
    """What pass 2 learns about one column, chunk by chunk."""

    def __init__(self, dtype: str, ranges: RangeRule) -> None:
        self.dtype = dtype
        self.kind = kind_of(dtype)
        self.ranges = ranges
        numbers = self.kind in ("int", "float") and ranges.quantiles is not None
        self.sample = ValueSample() if numbers else None
        self.count = 0
        self.nulls = False
        self.low: Any = None
        self.high: Any = None
        self.infinite = {"-": False, "+": False}
        self.distinct: set[Any] | None = (
            set() if self.kind in ("string", "category", "bool") else None
        )
        self.seen = SeenValues() if self.kind in ("int", "string") else None
        self.all_differ = self.seen is not None

    def add(self, series: pd.Series) -> None:
        """Take in one chunk of the (converted) column."""
        present = series.dropna()
        self.count += len(present)
        self.nulls = self.nulls or len(present) < len(series)
        if self.kind in ("int", "float"):
            self._bounds(present)
        if self.distinct is not None:
            self.distinct.update(_plain(v) for v in present.unique()[: MAX_ALLOWED + 1])
            if len(self.distinct) > MAX_ALLOWED:
                self.distinct = None
        if self.seen is not None and self.all_differ:
            repeats = self.seen.repeated(present).any()
            keys = keys_of(present)
            self.all_differ = not repeats and len(sorted_unique(keys)) == len(keys)

    def _bounds(self, present: pd.Series) -> None:
        import numpy as np

        wide = {"float": "float64", "int": "uint64" if self.dtype == "uint64" else "int64"}
        values = present.to_numpy(dtype=wide[self.kind])
        if self.kind == "float":
            self.infinite["+"] |= bool(np.isposinf(values).any())
            self.infinite["-"] |= bool(np.isneginf(values).any())
            values = values[np.isfinite(values)]
        if len(values):
            if self.sample is not None:
                self.sample.add(values)
            low, high = values.min(), values.max()
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)

    def spec(self) -> ColumnSpec:
        """The column's entry in the inferred schema."""
        unique = self.all_differ and self.count >= 2
        allowed = None
        if self.distinct and not unique and len(self.distinct) < self.count:
            allowed = sorted(self.distinct, key=lambda v: (str(type(v)), v))
        infinite = self.infinite["+"] or self.infinite["-"]
        low, high = self._range()
        return ColumnSpec(
            dtype=self.dtype,
            nullable=self.nulls,
            unique=unique,
            min=None if unique or self.infinite["-"] else low,
            max=None if unique or self.infinite["+"] else high,
            finite=False if infinite else None,
            allowed=allowed,
        )

    def _range(self) -> tuple[float | None, float | None]:
        """``min``/``max`` under the range rule; ``None`` for a column with no numbers."""
        if self.low is None or self.high is None:
            return None, None
        if self.kind == "int":
            return self.ranges.int_bounds(self.low, self.high, self.sample, self.dtype)
        return self.ranges.bounds(self.low, self.high, self.sample)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value
