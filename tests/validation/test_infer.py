"""Inference: what it writes, and the property that data passes the schema inferred from it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import DataError
from conveyor.validation import (
    ColumnSpec,
    RowBounds,
    infer_frame,
    infer_schema,
    parse_schema,
    validate_file,
    validate_frame,
)


def test_inferred_columns_follow_the_documented_rules(tmp_path: Path):
    n = 40
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "radius": np.linspace(6.98, 28.11, n),
            "diagnosis": ["benign", "malignant"] * (n // 2),
            "name": [f"patient {i}" for i in range(n)],
            "score": [1.0] * (n - 1) + [np.nan],
            "smoker": [True, False] * (n // 2),
            "ratio": [0.5] * (n - 1) + [np.inf],
        }
    )
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)

    inferred = infer_schema(path)

    columns = inferred.schema.columns
    assert list(columns) == list(frame.columns)
    assert columns["id"] == ColumnSpec(dtype="int64", unique=True)  # an identifier: no bounds
    assert columns["radius"] == ColumnSpec(dtype="float64", min=6.98, max=28.11)
    assert columns["diagnosis"] == ColumnSpec(dtype="string", allowed=["benign", "malignant"])
    assert columns["name"] == ColumnSpec(dtype="string", unique=True)
    assert columns["score"] == ColumnSpec(dtype="float64", nullable=True, min=1.0, max=1.0)
    assert columns["smoker"] == ColumnSpec(dtype="bool", allowed=[False, True])
    assert columns["ratio"] == ColumnSpec(dtype="float64", min=0.5, finite=False)
    assert inferred.schema.rows == RowBounds(min=4, max=400)
    assert inferred.schema.strict is False
    assert inferred.rows == n


def test_the_yaml_says_where_it_came_from_and_asks_for_review(tmp_path: Path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(path, index=False)

    text = infer_schema(path).to_yaml(datetime(2025, 3, 1, tzinfo=UTC))

    header = [line for line in text.splitlines() if line.startswith("#")]
    assert f"inferred from {path}" in header[0]
    assert "(3 rows, 1 columns) on 2025-03-01." in header[1]
    assert any("REVIEW BEFORE COMMITTING" in line for line in header)
    assert "  a: {dtype: int64, nullable: false, unique: true}" in text
    assert parse_schema(text) == infer_schema(path).schema


def test_dtypes_are_merged_over_chunks(tmp_path: Path):
    path = tmp_path / "mixed.csv"
    path.write_text("n,code,flag\n1,007,True\n2,2,False\n3,,\n4.5,A1,True\n", encoding="utf-8")

    inferred = infer_schema(path, chunk_rows=2)

    columns = inferred.schema.columns
    assert columns["n"].dtype == "float64"  # integers, then a fraction
    assert columns["code"].dtype == "string"  # numbers, then text: read again as text
    assert columns["code"].nullable
    assert columns["code"].unique
    assert columns["flag"].dtype == "bool"
    assert columns["flag"].nullable
    assert validate_file(path, inferred.schema, chunk_rows=3).passed
    zeros_kept = parse_schema(
        "columns: {code: {dtype: string, nullable: true, allowed: ['007', '2', A1]}}"
    )
    assert validate_file(path, zeros_kept).passed


def test_columns_no_dtype_describes_are_left_out_and_named(tmp_path: Path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"a": [1, 2], "wait": pd.to_timedelta([1, 2], unit="s")}).to_parquet(path)

    inferred = infer_schema(path)

    assert list(inferred.schema.columns) == ["a"]
    assert list(inferred.left_out) == ["wait"]
    assert inferred.left_out["wait"].startswith("timedelta64")
    assert "left out (no schema dtype describes them): wait" in inferred.to_yaml()


def test_nothing_to_infer_from_is_an_error(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n", encoding="utf-8")

    with pytest.raises(DataError, match="has no rows"):
        infer_schema(path)
    with pytest.raises(DataError, match="has no rows"):
        infer_frame(pd.DataFrame({"a": []}))


# Property: data always passes the schema inferred from it, read in any chunk size.

words = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(",\"'\n "),
    max_size=6,
)
column_values = st.one_of(
    st.lists(st.integers(-(2**62), 2**62) | st.none(), min_size=1, max_size=12),
    st.lists(st.floats(width=64), min_size=1, max_size=12),
    st.lists(
        st.sampled_from(["a", "b", "1", "007", "True", "", "NA"]) | st.none(),
        min_size=1,
        max_size=12,
    ),
    st.lists(words, min_size=1, max_size=12),
    st.lists(st.booleans() | st.none(), min_size=1, max_size=12),
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    values = draw(st.lists(column_values, min_size=1, max_size=4))
    rows = min(len(v) for v in values)
    return pd.DataFrame({f"c{i}": pd.Series(v[:rows], dtype=object) for i, v in enumerate(values)})


@settings(max_examples=60)
@given(frame=frames(), chunk_rows=st.integers(1, 6), fmt=st.sampled_from(["csv", "parquet"]))
def test_a_file_passes_the_schema_inferred_from_it(frame, chunk_rows, fmt, tmp_path_factory):
    path = tmp_path_factory.mktemp("infer") / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.infer_objects().to_parquet(path)

    schema = infer_schema(path, chunk_rows=chunk_rows).schema
    report = validate_file(path, schema, chunk_rows=chunk_rows + 1)

    assert report.passed, [f.message for f in report.findings]


typed_columns = st.one_of(
    st.lists(st.integers(-(2**31), 2**31), min_size=1, max_size=10).map(
        lambda v: pd.Series(v, dtype="int64")
    ),
    st.lists(st.integers(0, 255) | st.none(), min_size=1, max_size=10).map(
        lambda v: pd.Series(v, dtype="UInt8")
    ),
    st.lists(st.floats(width=32), min_size=1, max_size=10).map(
        lambda v: pd.Series(v, dtype="float32")
    ),
    st.lists(st.sampled_from(["x", "y", "z"]) | st.none(), min_size=1, max_size=10).map(
        lambda v: pd.Series(v, dtype="category")
    ),
    st.lists(words | st.none(), min_size=1, max_size=10).map(lambda v: pd.Series(v, dtype="str")),
    st.lists(
        st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)) | st.none(),
        min_size=1,
        max_size=10,
    ).map(lambda v: pd.Series(v, dtype="datetime64[ns]")),
)


@given(st.lists(typed_columns, min_size=1, max_size=4))
def test_a_frame_passes_the_schema_inferred_from_it(columns):
    rows = min(len(c) for c in columns)
    frame = pd.DataFrame(
        {f"c{i}": c.iloc[:rows].reset_index(drop=True) for i, c in enumerate(columns)}
    )

    report = validate_frame(frame, infer_frame(frame))

    assert report.passed, [f.message for f in report.findings]


def test_a_value_sample_stays_bounded_and_uniform_across_chunks():
    from conveyor.validation.ranges import ValueSample

    sample = ValueSample(size=2_000)
    for start in range(0, 100_000, 7_000):
        sample.add(np.arange(start, min(start + 7_000, 100_000), dtype="float64"))

    assert sample.size == 2_000
    assert abs(float(np.median(sample.values())) - 50_000) < 5_000  # not just the last chunks
