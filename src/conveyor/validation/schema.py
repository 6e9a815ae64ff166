"""The data schema: what a CSV or Parquet file must look like, as written in ``schema.yaml``.

::

    rows: {min: 42, max: 4260}
    strict: false            # true: columns not listed here are an error
    columns:
      mean radius: {dtype: float64, nullable: false, min: 6.98, max: 28.11}
      diagnosis: {dtype: string, allowed: [benign, malignant]}
      id: {dtype: int64, unique: true}
    checks:                  # custom expressions, evaluated with DataFrame.eval
      - name: worst radius is at least the mean radius
        expr: "`worst radius` >= `mean radius`"

These models only describe and check the file's own consistency (a ``min`` on a string
column is refused here, with its line); :mod:`conveyor.validation.compile` turns a schema
into pandera checks, :mod:`conveyor.validation.schema_file` reads and writes the YAML.
"""

from __future__ import annotations

import difflib
import math
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

__all__ = ["DTYPES", "ColumnSpec", "DataSchema", "ExprCheck", "Kind", "RowBounds", "kind_of"]

Kind = Literal["int", "float", "bool", "string", "category", "datetime"]

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float32", "float64")
DTYPES = (*INT_DTYPES, *FLOAT_DTYPES, "bool", "string", "category", "datetime")

Number = StrictInt | StrictFloat
Scalar = StrictStr | StrictBool | StrictInt | StrictFloat


def kind_of(dtype: str) -> Kind:
    """The family of a schema dtype: ``int64`` -> ``int``, ``float32`` -> ``float``."""
    if dtype in INT_DTYPES:
        return "int"
    if dtype in FLOAT_DTYPES:
        return "float"
    if dtype in ("bool", "string", "category", "datetime"):
        return dtype  # type: ignore[return-value]  # the literal names themselves
    raise ValueError(f"unknown dtype {dtype!r}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One column: its type and the checks its values must pass."""

    dtype: str = Field(description=f"One of {', '.join(DTYPES)}.")
    nullable: bool = Field(default=False, description="Empty values (null/NaN) are allowed.")
    unique: bool = Field(default=False, description="No value appears twice (across the file).")
    min: Number | None = Field(default=None, description="Smallest value allowed (numbers).")
    max: Number | None = Field(default=None, description="Largest value allowed (numbers).")
    finite: bool | None = Field(
        default=None, description="Float columns: +/-inf is an error (default: true)."
    )
    allowed: list[Scalar] | None = Field(
        default=None, description="The only values allowed (string, category, bool, int)."
    )

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value in DTYPES:
            return value
        close = difflib.get_close_matches(value, DTYPES, n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown dtype {value!r}{suggestion}; known: {', '.join(DTYPES)}")

    @field_validator("min", "max")
    @classmethod
    def _finite_bound(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number; leave it out for no bound")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> ColumnSpec:
        kind = kind_of(self.dtype)
        if (self.min is not None or self.max is not None) and kind not in ("int", "float"):
            raise ValueError(f"min and max apply to number columns, not to dtype {self.dtype}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.finite is not None and kind != "float":
            raise ValueError(f"finite applies to float columns, not to dtype {self.dtype}")
        if self.allowed is not None:
            _check_allowed(self.allowed, kind, self.dtype)
        return self

    @property
    def kind(self) -> Kind:
        """The dtype's family (``int``, ``float``, ``bool``, ``string``, ...)."""
        return kind_of(self.dtype)

    @property
    def checks_finite(self) -> bool:
        """Whether +/-inf is refused: ``finite``, which defaults to true for floats."""
        return self.kind == "float" and self.finite is not False


def _check_allowed(values: list[str | bool | int | float], kind: Kind, dtype: str) -> None:
    if kind in ("float", "datetime"):
        raise ValueError(f"allowed applies to string, category, bool and int columns, not {dtype}")
    if not values:
        raise ValueError("allowed is empty: list at least one value, or leave the key out")
    expected: dict[str, type | tuple[type, ...]] = {"string": str, "bool": bool, "int": int}
    wanted = expected.get(kind)
    for value in values:
        bad_int = kind == "int" and isinstance(value, bool)
        if wanted is not None and (bad_int or not isinstance(value, wanted)):
            quote = " (quote it in the YAML: 'yes', '1')" if kind == "string" else ""
            raise ValueError(
                f"allowed value {value!r} is a {type(value).__name__}, but the column's dtype "
                f"is {dtype}{quote}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"allowed value {value!r} is not a finite number")


class RowBounds(_Strict):
    """How many rows the data set may have."""

    min: int | None = Field(default=None, ge=0, description="Fewest rows allowed.")
    max: int | None = Field(default=None, ge=0, description="Most rows allowed.")

    @model_validator(mode="after")
    def _ordered(self) -> RowBounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ExprCheck(_Strict):
    """A check over whole rows: a pandas ``DataFrame.eval`` expression true for every row."""

    name: str = Field(min_length=1, description="What the check means, shown on failure.")
    expr: str = Field(min_length=1, description='e.g. "`worst radius` >= `mean radius`".')


class DataSchema(_Strict):
    """A whole schema file."""

    rows: RowBounds | None = Field(default=None, description="Bounds on the number of rows.")
    strict: bool = Field(default=False, description="Columns not listed here are an error.")
    columns: dict[str, ColumnSpec] = Field(description="Each column, in order.")
    checks: list[ExprCheck] = Field(default_factory=list, description="Row-wise expressions.")

    @field_validator("checks")
    @classmethod
    def _distinct_names(cls, checks: list[ExprCheck]) -> list[ExprCheck]:
        names = [check.name for check in checks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"check names must differ; repeated: {', '.join(repeated)}")
        return checks

    def check_count(self) -> int:
        """How many checks validation makes (what ``N checks passed`` counts)."""
        count = len(self.checks) + (self.rows is not None) + self.strict
        for spec in self.columns.values():
            count += 2  # present, dtype
            count += (not spec.nullable) + spec.unique + (spec.allowed is not None)
            count += spec.min is not None or spec.max is not None
            count += spec.checks_finite and (spec.min is None or spec.max is None)
        return count
