"""What validation found: findings gathered chunk by chunk, and the report they make.

A finding is one check failing on one column (or on whole rows, for ``rows`` and the
schema's expressions): how many rows fail it, the first few of them, and a sentence::

    diagnosis  allowed  5  5 rows hold values not in allowed: 'unknown' (4 rows), 'n/a' (1 row)

Check names: ``required`` (a column is missing), ``strict`` (a column the schema does not
list), ``dtype``, ``nullable``, ``unique``, ``range``, ``finite``, ``allowed``, ``rows``,
and each expression's own name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conveyor.evaluation.results import ValidationSummary
from conveyor.validation.schema import DataSchema

__all__ = ["Example", "Finding", "ValidationReport"]

MAX_EXAMPLES = 5  # kept per finding
SHOWN_EXAMPLES = 3  # quoted in its message
MAX_COUNTED_VALUES = 1000  # distinct offending values counted per finding
SHOWN_VALUES = 5
CHECK_ORDER = ("required", "strict", "dtype", "nullable", "unique", "range", "finite", "allowed")


@dataclass(frozen=True)
class Example:
    """One failing row: its number (0 = first data row) and the values that fail."""

    row: int
    values: dict[str, Any]

    def text(self) -> str:
        """``row 7: 'abc'``, or ``row 9: a=1.0, b=2.0`` for several columns."""
        if len(self.values) == 1:
            return f"row {self.row}: {_show(next(iter(self.values.values())))}"
        shown = ", ".join(f"{name}={_show(value)}" for name, value in self.values.items())
        return f"row {self.row}: {shown}"


@dataclass(frozen=True)
class Finding:
    """One check that failed, with its evidence."""

    column: str | None  # None: the check is about whole rows or the row count
    check: str
    failing_rows: int
    message: str
    examples: tuple[Example, ...] = ()
    counts: tuple[tuple[Any, int], ...] = ()  # offending values and their rows, most first

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "column": self.column,
            "check": self.check,
            "failing_rows": self.failing_rows,
            "message": self.message,
            "examples": [{"row": e.row, "values": e.values} for e in self.examples],
            "counts": [{"value": value, "rows": rows} for value, rows in self.counts],
        }


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one data file against one schema.

    ``failing_rows`` counts distinct rows that fail at least one check (every row, when a
    column is missing); each finding counts its own.
    """

    data: str
    schema: str | None
    rows: int
    columns: int
    checks: int
    findings: tuple[Finding, ...] = ()
    failing_rows: int = 0

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.findings

    def headline(self) -> str:
        """One line: ``data.csv: 569 rows, 31 columns, 95 checks passed``."""
        shape = f"{self.data}: {_count(self.rows, 'row')}, {_count(self.columns, 'column')}"
        if self.passed:
            return f"{shape}, {_count(self.checks, 'check')} passed"
        return (
            f"{shape}: {len(self.findings)} of {_count(self.checks, 'check')} failed "
            f"({_count(self.failing_rows, 'row')} failing)"
        )

    def summary(self, name: str) -> ValidationSummary:
        """The short form ``conveyor check`` keeps in its report."""
        failures = [
            {
                "column": finding.column,
                "check": finding.check,
                "failing_rows": finding.failing_rows,
                "message": finding.message,
            }
            for finding in self.findings
        ]
        return ValidationSummary(
            name=name,
            data=self.data,
            schema=self.schema,
            rows=self.rows,
            passed=self.passed,
            failed_checks=len(self.findings),
            failures=failures,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``conveyor validate --json`` prints)."""
        return {
            "data": self.data,
            "schema": self.schema,
            "passed": self.passed,
            "rows": self.rows,
            "columns": self.columns,
            "checks": self.checks,
            "failing_rows": self.failing_rows,
            "findings": [finding.as_dict() for finding in self.findings],
        }


@dataclass
class _Tally:
    rows: int = 0
    examples: list[Example] = field(default_factory=list)
    counts: dict[Any, int] = field(default_factory=dict)
    found: str = ""  # dtype: the dtype found in the file
    reason: tuple[str, str] = ("", "")  # dtype: what the values are not (one, many)
    error: str = ""  # a check that could not be evaluated: why


class Collector:
    """Adds up what each chunk found; row counts are summed, the first examples kept."""

    def __init__(self) -> None:
        self.tallies: dict[tuple[str | None, str], _Tally] = {}

    def add(
        self,
        column: str | None,
        check: str,
        rows: int,
        examples: Iterable[Example] = (),
        values: Iterable[Any] = (),
        *,
        found: str = "",
        reason: tuple[str, str] = ("", ""),
        error: str = "",
    ) -> None:
        """Record ``rows`` more failing rows of ``check`` on ``column``."""
        tally = self.tallies.setdefault((column, check), _Tally(found=found, reason=reason))
        tally.error = tally.error or error
        tally.rows += rows
        for example in examples:
            if len(tally.examples) >= MAX_EXAMPLES:
                break
            tally.examples.append(example)
        for value in values:
            if value in tally.counts or len(tally.counts) < MAX_COUNTED_VALUES:
                tally.counts[value] = tally.counts.get(value, 0) + 1

    def findings(self, schema: DataSchema) -> tuple[Finding, ...]:
        """The findings, in the schema's column order, row-wide checks last."""
        order = {name: index for index, name in enumerate(schema.columns)}

        def position(key: tuple[str | None, str]) -> tuple[int, int, str]:
            column, check = key
            at = len(order) + 1 if column is None else order.get(column, len(order))
            rank = CHECK_ORDER.index(check) if check in CHECK_ORDER else len(CHECK_ORDER)
            return at, rank, column or ""

        return tuple(
            _finding(column, check, self.tallies[(column, check)], schema)
            for column, check in sorted(self.tallies, key=position)
        )


def _finding(column: str | None, check: str, tally: _Tally, schema: DataSchema) -> Finding:
    counts = tuple(sorted(tally.counts.items(), key=lambda item: -item[1]))
    return Finding(
        column=column,
        check=check,
        failing_rows=tally.rows,
        message=_message(column, check, tally, counts, schema),
        examples=tuple(tally.examples),
        counts=counts,
    )


def _message(
    column: str | None,
    check: str,
    tally: _Tally,
    counts: tuple[tuple[Any, int], ...],
    schema: DataSchema,
) -> str:
    n = tally.rows
    spec = schema.columns.get(column) if column is not None else None
    eg = _examples(tally.examples)
    if tally.error:
        return f"could not be evaluated: {tally.error}"
    if check == "required":
        return "the column is missing from the data"
    if check == "strict":
        return "the column is not in the schema, and the schema is strict"
    if spec is None:  # an expression over whole rows
        expr = next((c.expr for c in schema.checks if c.name == check), check)
        return f"{_count(n, 'row')} {_verb(n, 'fails', 'fail')} {expr}{eg}"
    if check == "dtype":
        what = tally.reason[0] if n == 1 else tally.reason[1]
        return (
            f"expected {spec.dtype}, found {tally.found}: "
            f"{_count(n, 'value')} {_verb(n, 'is', 'are')} not {what}{eg}"
        )
    if check == "nullable":
        shown = ", ".join(str(e.row) for e in tally.examples[:SHOWN_EXAMPLES])
        return (
            f"{_count(n, 'row')} {_verb(n, 'is', 'are')} empty (null/NaN), but the column is "
            f"not nullable, e.g. {_verb(len(tally.examples), 'row', 'rows')} {shown}"
        )
    if check == "unique":
        return f"{_count(n, 'row')} {_verb(n, 'repeats', 'repeat')} a value of an earlier row{eg}"
    if check == "range":
        where = _bounds(spec.min, spec.max)
        return f"{_count(n, 'row')} {_verb(n, 'is', 'are')} outside {where}{eg}"
    if check == "finite":
        return f"{_count(n, 'row')} {_verb(n, 'holds', 'hold')} +/-inf{eg}"
    if check == "allowed":
        shown = ", ".join(f"{_show(v)} ({_count(k, 'row')})" for v, k in counts[:SHOWN_VALUES])
        more = f" and {len(counts) - SHOWN_VALUES} more" if len(counts) > SHOWN_VALUES else ""
        return f"{_count(n, 'row')} {_verb(n, 'holds', 'hold')} values not allowed: {shown}{more}"
    return f"{_count(n, 'row')} {_verb(n, 'fails', 'fail')} {check}{eg}"


def row_count_problem(rows: int, schema: DataSchema) -> str | None:
    """Why ``rows`` breaks the schema's row bounds, or None."""
    bounds = schema.rows
    if bounds is None:
        return None
    if (bounds.min is not None and rows < bounds.min) or (
        bounds.max is not None and rows > bounds.max
    ):
        return f"expected {_bounds(bounds.min, bounds.max)} rows, found {rows:,}"
    return None


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"[{low}, {high}]"
    return f">= {low}" if low is not None else f"<= {high}"


def _examples(examples: list[Example]) -> str:
    if not examples:
        return ""
    return ", e.g. " + "; ".join(e.text() for e in examples[:SHOWN_EXAMPLES])


def _show(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return repr(value)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many
