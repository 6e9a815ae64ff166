"""A :class:`DataSchema` as a pandera ``DataFrameSchema``, and the names of its checks.

========================  ================================================================
schema.yaml               pandera
========================  ================================================================
``dtype``                 ``Column(dtype)`` (``dtypes=True``); file validation converts
                          each chunk itself first, see ``convert.py``
``nullable``              ``Column(nullable=...)``
``unique``                ``Column(unique=True, report_duplicates="exclude_first")``
``min`` / ``max``         ``Check.in_range`` / ``greater_than_or_equal_to`` / ``less_than_...``
``allowed``               ``Check.isin``
``finite``                a ``Check`` refusing +/-inf (only when a bound is missing: a range
                          with both bounds already refuses them)
``strict``                ``DataFrameSchema(strict=True)``
``checks``                one dataframe-level ``Check`` per expression (``DataFrame.eval``)
========================  ================================================================

pandera names built-in checks itself (``in_range(0, 10)``); :attr:`Compiled.names` maps
``(column, check_number)`` back to ours (``range``), ``column`` None for expressions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.validation.schema import ColumnSpec, DataSchema, ExprCheck

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa

__all__ = ["Compiled", "compile_schema"]

PANDERA_DTYPES = {"string": "str", "datetime": "datetime64[ns]"}


@dataclass(frozen=True)
class Compiled:
    """The pandera schema and, for each ``(column, check_number)``, our check's name."""

    pandera: pa.DataFrameSchema
    names: dict[tuple[str | None, int], str]


def compile_schema(schema: DataSchema, *, dtypes: bool = True) -> Compiled:
    """Build the pandera schema; ``dtypes=False`` leaves dtypes to the caller.

    Example::

        compiled = compile_schema(load_schema(Path("schema.yaml")))
        compiled.pandera.validate(frame, lazy=True)
    """
    import pandera.pandas as pa

    names: dict[tuple[str | None, int], str] = {}
    columns = {}
    for name, spec in schema.columns.items():
        checks = _column_checks(spec)
        names.update({(name, number): check for number, (check, _) in enumerate(checks)})
        columns[name] = pa.Column(
            PANDERA_DTYPES.get(spec.dtype, spec.dtype) if dtypes else None,
            checks=[check for _, check in checks],
            nullable=spec.nullable,
            unique=spec.unique,
            report_duplicates="exclude_first",
            name=name,
        )
    frame_checks = []
    for number, expr_check in enumerate(schema.checks):
        names[(None, number)] = expr_check.name
        frame_checks.append(pa.Check(RowExpression(expr_check), name=expr_check.name))
    frame_schema = pa.DataFrameSchema(columns, checks=frame_checks, strict=schema.strict)
    return Compiled(frame_schema, names)


def _column_checks(spec: ColumnSpec) -> list[tuple[str, pa.Check]]:
    import numpy as np
    import pandera.pandas as pa

    checks: list[tuple[str, pa.Check]] = []
    low, high = spec.min, spec.max
    if low is not None and high is not None:
        checks.append(("range", pa.Check.in_range(low, high)))
    elif low is not None:
        checks.append(("range", pa.Check.greater_than_or_equal_to(low)))
    elif high is not None:
        checks.append(("range", pa.Check.less_than_or_equal_to(high)))
    if spec.checks_finite and (low is None or high is None):
        checks.append(("finite", pa.Check(lambda s: ~np.isinf(s.astype("float64")))))
    if spec.allowed is not None:
        checks.append(("allowed", pa.Check.isin(spec.allowed)))
    return checks


class RowExpression:
    """A pandera check function: ``DataFrame.eval(expr)``, which must give one bool per row.

    As in SQL's CHECK constraints, a row where a column the expression mentions is empty
    passes: empty values are the ``nullable`` check's business.
    """

    def __init__(self, check: ExprCheck) -> None:
        self.check = check

    def __call__(self, frame: pd.DataFrame) -> Any:
        result = frame.eval(self.check.expr)
        if getattr(result, "shape", None) != (len(frame),) or result.dtype.kind != "b":
            raise TypeError(
                f"the expression must give one true/false per row, got {type(result).__name__}"
            )
        result = result.fillna(False).astype(bool)  # NA from nullable columns
        mentioned = mentioned_columns(self.check.expr, frame.columns)
        if mentioned:
            result = result | frame[mentioned].isna().any(axis=1)
        return result


def mentioned_columns(expr: str, columns: Iterable[Any]) -> list[Any]:
    """The columns ``expr`` names, as ```a b``` or as a bare word."""
    return [column for column in columns if _mentions(expr, str(column))]


def _mentions(expr: str, column: str) -> bool:
    if f"`{column}`" in expr:
        return True
    return re.search(rf"(?<![\w`]){re.escape(column)}(?![\w`])", expr) is not None
