"""Validating a file (or a DataFrame) against a schema, a chunk at a time.

For each chunk::

    raw chunk ──convert──> typed chunk ──pandera (lazy)──> failure cases ─┐
        │                      └──SeenValues (unique across chunks)──────┤
        └── values that are not of their dtype ──────────────────────────┴─> Collector

then the row count is checked against ``rows``. Memory is bounded by the chunk size, plus
8 bytes per distinct value of each ``unique`` column (see ``unique.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.validation.compile import Compiled, compile_schema, mentioned_columns
from conveyor.validation.convert import BadValues, convert_frame
from conveyor.validation.findings import (
    MAX_EXAMPLES,
    Collector,
    Example,
    Finding,
    ValidationReport,
    row_count_problem,
)
from conveyor.validation.reader import DEFAULT_CHUNK_ROWS, iter_chunks
from conveyor.validation.schema import DataSchema
from conveyor.validation.schema_file import load_schema
from conveyor.validation.unique import SeenValues

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["validate_file", "validate_frame"]

WHOLE_COLUMN = ("required", "strict")  # findings about a column, so about every row


def validate_file(
    data: Path, schema: DataSchema | Path, *, chunk_rows: int | None = None
) -> ValidationReport:
    """Check a CSV or Parquet file against ``schema`` (a schema, or its YAML file).

    Bad data gives a report with findings; an unreadable file or schema raises a
    :class:`~conveyor.errors.ConveyorError`. Example::

        report = validate_file(Path("data/train.csv"), Path("schemas/train.yaml"))
        if not report.passed:
            for finding in report.findings:
                print(finding.column, finding.check, finding.message)
    """
    label = str(schema) if isinstance(schema, Path) else None
    if isinstance(schema, Path):
        schema = load_schema(schema)
    validator = ChunkValidator(schema)
    text = [name for name, spec in schema.columns.items() if spec.kind in ("string", "category")]
    for chunk in iter_chunks(data, chunk_rows or DEFAULT_CHUNK_ROWS, text):
        validator.add(chunk)
    return validator.report(str(data), label)


def validate_frame(
    frame: pd.DataFrame, schema: DataSchema, *, name: str = "<DataFrame>"
) -> ValidationReport:
    """Check an in-memory frame; rows are numbered by position, from 0."""
    validator = ChunkValidator(schema)
    validator.add(frame.reset_index(drop=True))
    return validator.report(name, None)


@dataclass
class _Failed:
    """Rows of one chunk failing one check, and the values that fail."""

    rows: np.ndarray
    values: list[Any]  # one per row, or none when they are not needed
    error: str = ""

    def without(self, rows: np.ndarray) -> _Failed:
        """The same failure, less ``rows``."""
        import numpy as np

        keep = ~np.isin(self.rows, rows)
        values = [value for value, kept in zip(self.values, keep, strict=False) if kept]
        return _Failed(self.rows[keep], values, self.error)


class ChunkValidator:
    """Validates chunk after chunk, keeping what must outlive a chunk."""

    def __init__(self, schema: DataSchema) -> None:
        self.schema = schema
        self.compiled = compile_schema(schema, dtypes=False)
        self.seen = {name: SeenValues() for name, spec in schema.columns.items() if spec.unique}
        self.collector = Collector()
        self.rows = 0
        self.columns = 0
        self.failing_rows = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """Validate one chunk (its index holds the global row numbers)."""
        self.rows += len(chunk)
        self.columns = len(chunk.columns)
        typed, bad_values = convert_frame(chunk, self.schema.columns)
        failed = self._dtype_failures(chunk, bad_values)
        reported = {column: failure.rows for (column, _), failure in failed.items()}
        for (column, check), failure in self._checked(typed):
            if column in reported and check not in WHOLE_COLUMN:
                failure = failure.without(reported[column])  # said once, as a dtype finding
                if not len(failure.rows):
                    continue
            failed[(column, check)] = failure
            self._collect(column, check, failure, typed, len(chunk))
        self.failing_rows += _distinct_rows(failed, len(chunk))

    def _dtype_failures(
        self, chunk: pd.DataFrame, bad_values: list[BadValues]
    ) -> dict[tuple[str | None, str], _Failed]:
        failed: dict[tuple[str | None, str], _Failed] = {}
        for bad in bad_values:
            rows = chunk.index.to_numpy()[bad.mask]
            values = chunk[bad.column].to_numpy()[bad.mask][:MAX_EXAMPLES].tolist()
            failed[(bad.column, "dtype")] = _Failed(rows, [])  # its values are reported here
            examples = _examples(bad.column, rows, values)
            self.collector.add(
                bad.column, "dtype", len(rows), examples, found=bad.found, reason=bad.reason
            )
        return failed

    def _checked(self, typed: pd.DataFrame) -> Iterator[tuple[tuple[str | None, str], _Failed]]:
        found = dict(_pandera_failures(self.compiled, typed))
        for name, seen in self.seen.items():
            if name not in typed.columns:
                continue
            mask = seen.repeated(typed[name])
            if mask.any():
                earlier = _Failed(
                    typed.index.to_numpy()[mask], typed[name].to_numpy()[mask].tolist()
                )
                found[(name, "unique")] = _merged(found.get((name, "unique")), earlier)
        yield from found.items()

    def _collect(
        self, column: str | None, check: str, failure: _Failed, typed: pd.DataFrame, size: int
    ) -> None:
        if failure.error or check in WHOLE_COLUMN:
            self.collector.add(column, check, size, error=failure.error)
            return
        order = failure.rows.argsort(kind="stable")
        rows = failure.rows[order][:MAX_EXAMPLES]
        if column is None:
            examples = self._row_examples(check, rows, typed)
        else:
            values = [failure.values[i] for i in order[:MAX_EXAMPLES]]
            examples = _examples(column, rows, values)
        counted = map(_plain, failure.values) if check == "allowed" else ()
        self.collector.add(column, check, len(failure.rows), examples, counted)

    def _row_examples(self, check: str, rows: np.ndarray, typed: pd.DataFrame) -> list[Example]:
        expr = next(c.expr for c in self.schema.checks if c.name == check)
        columns = mentioned_columns(expr, typed.columns) or list(typed.columns)
        subset = typed.loc[rows, columns]
        return [
            Example(int(row), {str(c): _plain(v) for c, v in zip(columns, values, strict=True)})
            for row, values in zip(rows, subset.itertuples(index=False), strict=True)
        ]

    def report(self, data: str, schema: str | None) -> ValidationReport:
        """The report of every chunk added so far, with the row count checked."""
        findings = self.collector.findings(self.schema)
        problem = row_count_problem(self.rows, self.schema)
        if problem:
            findings += (Finding(None, "rows", 0, problem),)
        return ValidationReport(
            data=data,
            schema=schema,
            rows=self.rows,
            columns=self.columns,
            checks=self.schema.check_count(),
            findings=findings,
            failing_rows=self.failing_rows,
        )


def _pandera_failures(
    compiled: Compiled, typed: pd.DataFrame
) -> Iterator[tuple[tuple[str | None, str], _Failed]]:
    """pandera's failure cases, grouped by (column, our check name)."""
    import numpy as np
    import pandas as pd
    from pandera.errors import SchemaErrors

    try:
        compiled.pandera.validate(typed, lazy=True, inplace=True)
        return
    except SchemaErrors as exc:
        cases = exc.failure_cases
    keys = ["schema_context", "column", "check", "check_number"]
    for key, group in cases.groupby(keys, dropna=False, sort=False):
        context, column, check, number = (None if pd.isna(k) else k for k in key)
        values = group["failure_case"].tolist()
        if check in ("column_in_dataframe", "column_in_schema"):
            name = "required" if check == "column_in_dataframe" else "strict"
            for value in values:
                yield (str(value), name), _Failed(np.empty(0, dtype="int64"), [])
            continue
        target = None if context == "DataFrameSchema" else column
        if number is not None:
            name = compiled.names.get((target, int(number)), str(check))
        else:
            renamed = {"not_nullable": "nullable", "field_uniqueness": "unique"}
            name = renamed.get(str(check), str(check))
        index = group["index"]
        if index.isna().all():
            yield (target, name), _Failed(np.empty(0, dtype="int64"), [], error=str(values[0]))
        elif target is None:
            yield (None, name), _Failed(np.unique(index.dropna().to_numpy(dtype="int64")), [])
        else:
            yield (target, name), _Failed(index.to_numpy(dtype="int64"), values)


def _merged(first: _Failed | None, second: _Failed) -> _Failed:
    import numpy as np

    if first is None:
        return second
    rows = np.concatenate([first.rows, second.rows])
    values = first.values + second.values
    rows, at = np.unique(rows, return_index=True)
    return _Failed(rows, [values[i] for i in at])


def _distinct_rows(failed: dict[tuple[str | None, str], _Failed], size: int) -> int:
    import numpy as np

    if any(f.error or check in WHOLE_COLUMN for (_, check), f in failed.items()):
        return size
    if not failed:
        return 0
    return len(np.unique(np.concatenate([f.rows for f in failed.values()])))


def _examples(column: str, rows: np.ndarray, values: list[Any]) -> list[Example]:
    return [
        Example(int(row), {column: _plain(value)}) for row, value in zip(rows, values, strict=False)
    ]


def _plain(value: Any) -> Any:
    """A value as JSON can hold it: numpy scalars as numbers, missing as None."""
    import pandas as pd

    if value is None or (not isinstance(value, str | bytes | list) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value
