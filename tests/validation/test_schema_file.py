"""schema.yaml: read with file:line errors and suggestions, written for review, round trip."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.errors import ConfigError, NotFoundError
from conveyor.validation import (
    ColumnSpec,
    DataSchema,
    ExprCheck,
    RowBounds,
    dump_schema,
    load_schema,
    parse_schema,
)
from conveyor.validation.schema import DTYPES, INT_DTYPES, kind_of

EXAMPLE = """\
rows: {min: 42, max: 4260}
strict: false
columns:
  mean radius: {dtype: float64, nullable: false, min: 6.98, max: 28.11}
  diagnosis: {dtype: string, allowed: [benign, malignant]}
  id: {dtype: int64, unique: true}
checks:
  - name: worst radius is at least the mean radius
    expr: "`worst radius` >= `mean radius`"
"""


def test_the_documented_example_parses():
    schema = parse_schema(EXAMPLE)

    assert schema.rows == RowBounds(min=42, max=4260)
    assert list(schema.columns) == ["mean radius", "diagnosis", "id"]
    assert schema.columns["mean radius"].max == 28.11
    assert schema.columns["diagnosis"].allowed == ["benign", "malignant"]
    assert schema.columns["id"].unique
    assert schema.checks[0].expr == "`worst radius` >= `mean radius`"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "columns:\n  age: {dtyp: int64}\n",
            "schema.yaml:2:9: columns.age.dtyp: unknown key (did you mean 'dtype'?)",
        ),
        (
            "columns:\n  age: {dtype: int46}\n",
            "schema.yaml:2:9: columns.age.dtype: unknown dtype 'int46' (did you mean 'int64'?)",
        ),
        ("colums: {}\n", "schema.yaml:1:1: colums: unknown key (did you mean 'columns'?)"),
        ("strict: false\n", "schema.yaml:1:1: columns: required key is missing"),
        (
            "columns:\n  name: {dtype: string, min: 3}\n",
            "schema.yaml:2:3: columns.name: min and max apply to number columns",
        ),
        (
            "columns:\n  ok: {dtype: string, allowed: [yes, no]}\n",
            "allowed value True is a bool, but the column's dtype is string (quote it",
        ),
        (
            "columns:\n  x: {dtype: float64, min: 3, max: 1}\n",
            "columns.x: min (3) is greater than max (1)",
        ),
        (
            "columns:\n  x: {dtype: int64, finite: true}\n",
            "finite applies to float columns, not to dtype int64",
        ),
        ("rows: {min: 10, max: 1}\ncolumns: {}\n", "rows: min (10) is greater than max (1)"),
        (
            "columns: {}\nchecks:\n  - {name: a, expr: x > 1}\n  - {name: a, expr: x > 2}\n",
            "check names must differ; repeated: a",
        ),
        (
            "columns:\n  x: {dtype: float64, max: .inf}\n",
            "columns.x.max: must be a finite number",
        ),
    ],
)
def test_mistakes_are_reported_with_file_line_and_key(text: str, expected: str):
    with pytest.raises(ConfigError) as caught:
        parse_schema(text, "schema.yaml")

    assert expected in str(caught.value)


def test_malformed_yaml_names_the_line():
    with pytest.raises(ConfigError, match=r"s\.yaml:3:15: malformed YAML") as caught:
        parse_schema("columns:\n  a: {dtype: int64}\n  b: {dtype: x]\n", "s.yaml")
    assert caught.value.hint == "line 3:   b: {dtype: x]"  # as conveyor.yaml's errors show it


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_a_file_that_is_not_a_mapping_is_refused(text: str):
    with pytest.raises(ConfigError, match="expected a mapping with a 'columns' key"):
        parse_schema(text, "s.yaml")


def test_a_missing_schema_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(NotFoundError, match="does not exist") as caught:
        load_schema(tmp_path / "nope.yaml")

    assert "--infer" in str(caught.value)


def test_written_schema_has_comments_and_one_line_per_column_in_order():
    schema = parse_schema(EXAMPLE)

    text = dump_schema(schema, ["inferred from data.csv", "review before committing"])

    lines = text.splitlines()
    assert lines[:2] == ["# inferred from data.csv", "# review before committing"]
    assert "strict: false  # true: columns not listed here are an error" in lines
    assert [
        line.split(":")[0].strip() for line in lines if line.startswith("  ") and "{" in line
    ] == [
        "mean radius",
        "diagnosis",
        "id",
    ]
    assert "  diagnosis: {dtype: string, nullable: false, allowed: [benign, malignant]}" in lines
    assert parse_schema(text) == schema


# Property: whatever schema we can build, writing it and reading it back gives it again.

names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
finite = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=10)


@st.composite
def columns(draw: st.DrawFn) -> ColumnSpec:
    dtype = draw(st.sampled_from(DTYPES))
    kind = kind_of(dtype)
    spec: dict[str, object] = {
        "dtype": dtype,
        "nullable": draw(st.booleans()),
        "unique": draw(st.booleans()),
    }
    if kind in ("int", "float"):
        number = st.integers(-(2**53), 2**53) if dtype in INT_DTYPES else finite
        bounds = sorted(draw(st.lists(number, min_size=2, max_size=2)))
        spec["min"], spec["max"] = draw(st.sampled_from([(None, None), tuple(bounds)]))
        if draw(st.booleans()):
            spec["min"] = None
    if kind == "float":
        spec["finite"] = draw(st.sampled_from([None, True, False]))
    allowed = {
        "string": st.lists(texts, min_size=1, max_size=4),
        "category": st.lists(texts, min_size=1, max_size=4),
        "bool": st.lists(st.booleans(), min_size=1, max_size=2),
        "int": st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=4),
    }.get(kind)
    if allowed is not None and draw(st.booleans()):
        spec["allowed"] = draw(allowed)
    return ColumnSpec.model_validate(spec)


@st.composite
def schemas(draw: st.DrawFn) -> DataSchema:
    low = draw(st.integers(0, 10**6))
    rows = draw(st.sampled_from([None, RowBounds(min=low), RowBounds(min=low, max=low * 10 + 1)]))
    checks = draw(
        st.lists(
            st.builds(ExprCheck, name=names, expr=names), max_size=3, unique_by=lambda c: c.name
        )
    )
    return DataSchema(
        rows=rows,
        strict=draw(st.booleans()),
        columns=draw(st.dictionaries(names, columns(), max_size=5)),
        checks=checks,
    )


@given(schemas())
def test_writing_then_reading_a_schema_gives_it_back(schema: DataSchema):
    text = dump_schema(schema, ["a header"])

    again = parse_schema(text)

    assert again == schema
    assert list(again.columns) == list(schema.columns)


@given(finite)
def test_float_bounds_survive_the_round_trip_exactly(value: float):
    schema = DataSchema(columns={"x": ColumnSpec(dtype="float64", min=value)})

    bound = parse_schema(dump_schema(schema)).columns["x"].min

    assert bound == value
    assert math.copysign(1.0, bound) == math.copysign(1.0, value)
