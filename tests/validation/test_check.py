"""validate_file: every kind of finding, chunking, and bad input that must not give a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor.errors import DataError, NotFoundError
from conveyor.validation import ValidationReport, parse_schema, validate_file, validate_frame

SCHEMA = parse_schema("""
rows: {min: 2, max: 100}
strict: false
columns:
  id: {dtype: int64, unique: true}
  radius: {dtype: float64, min: 0.0, max: 30.0}
  diagnosis: {dtype: string, allowed: [benign, malignant]}
  smoker: {dtype: bool, nullable: true}
  code: {dtype: string, nullable: true}
checks:
  - name: worst is at least mean
    expr: "`worst radius` >= radius"
""")

GOOD = """\
id,radius,diagnosis,smoker,code,worst radius
1,10.5,benign,True,007,12.0
2,11.0,malignant,False,,13.0
3,9.5,benign,,A1,9.5
"""


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def finding(report: ValidationReport, column: str | None, check: str):
    found = [f for f in report.findings if f.column == column and f.check == check]
    assert found, (
        f"no {check} finding on {column}: {[(f.column, f.check) for f in report.findings]}"
    )
    return found[0]


def test_good_data_passes_with_a_count_of_checks(tmp_path: Path):
    report = validate_file(write(tmp_path, GOOD), SCHEMA)

    assert report.passed, report.findings
    assert (report.rows, report.columns, report.failing_rows) == (3, 6, 0)
    assert report.checks == SCHEMA.check_count() == 18
    assert report.headline().endswith("3 rows, 6 columns, 18 checks passed")


def test_a_value_of_the_wrong_type_is_a_dtype_finding_with_row_and_value(tmp_path: Path):
    text = GOOD + "4,abc,benign,True,x,1.0\n5,7.0,benign,maybe,y,8.0\n"

    report = validate_file(write(tmp_path, text), SCHEMA)

    radius = finding(report, "radius", "dtype")
    assert radius.failing_rows == 1
    assert radius.examples[0].row == 3
    assert radius.examples[0].values == {"radius": "abc"}
    assert (
        radius.message == "expected float64, found str: 1 value is not a number, e.g. row 3: 'abc'"
    )
    assert (
        "1 value is not true/false, e.g. row 4: 'maybe'"
        in finding(report, "smoker", "dtype").message
    )
    # the value that did not convert is not reported again as an empty value
    assert not [f for f in report.findings if f.check == "nullable"]


def test_a_fraction_in_an_integer_column_is_not_silently_truncated(tmp_path: Path):
    text = GOOD + "4.5,7.0,benign,True,x,8.0\n"

    report = validate_file(write(tmp_path, text), SCHEMA)

    assert finding(report, "id", "dtype").examples[0].values == {"id": 4.5}


def test_empty_values_where_not_nullable_name_the_rows(tmp_path: Path):
    text = GOOD + "4,,benign,True,x,8.0\n5,,,True,x,8.0\n"

    report = validate_file(write(tmp_path, text), SCHEMA)

    radius = finding(report, "radius", "nullable")
    assert radius.failing_rows == 2
    assert [e.row for e in radius.examples] == [3, 4]
    assert "2 rows are empty (null/NaN), but the column is not nullable" in radius.message
    assert finding(report, "diagnosis", "nullable").failing_rows == 1


def test_infinity_is_out_of_range_and_refused_by_finite_without_bounds(tmp_path: Path):
    text = GOOD + "4,inf,benign,True,x,inf\n5,-inf,benign,True,x,8.0\n"
    open_ended = SCHEMA.model_copy(
        update={
            "columns": {
                **SCHEMA.columns,
                "worst radius": parse_schema("columns: {w: {dtype: float64}}").columns["w"],
            }
        }
    )

    report = validate_file(write(tmp_path, text), open_ended)

    assert finding(report, "radius", "range").failing_rows == 2
    finite = finding(report, "worst radius", "finite")
    assert finite.failing_rows == 1
    assert finite.examples[0].values == {"worst radius": np.inf}


def test_new_categories_are_listed_with_their_row_counts(tmp_path: Path):
    text = GOOD + "".join(
        f"{i},5.0,{v},True,x,6.0\n"
        for i, v in [(4, "unknown"), (5, "unknown"), (6, "benign "), (7, "unknown")]
    )

    report = validate_file(write(tmp_path, text), SCHEMA)

    allowed = finding(report, "diagnosis", "allowed")
    assert allowed.failing_rows == 4
    assert allowed.counts == (("unknown", 3), ("benign ", 1))
    assert "'unknown' (3 rows), 'benign ' (1 row)" in allowed.message


def test_missing_and_extra_columns(tmp_path: Path):
    strict = SCHEMA.model_copy(update={"strict": True})
    text = (
        "id,radius,diagnosis,smoker,worst radius,surprise\n"
        "1,1.0,benign,True,2.0,x\n2,1.0,benign,True,2.0,y\n"
    )

    report = validate_file(write(tmp_path, text), strict)

    assert finding(report, "code", "required").message == "the column is missing from the data"
    assert finding(report, "surprise", "strict").failing_rows == 2
    assert report.failing_rows == 2


def test_uniqueness_holds_across_chunks_and_row_numbers_are_global(tmp_path: Path):
    rows = "".join(f"{i % 5},1.0,benign,True,x,2.0\n" for i in range(12))
    path = write(tmp_path, "id,radius,diagnosis,smoker,code,worst radius\n" + rows)

    report = validate_file(path, SCHEMA, chunk_rows=4)

    unique = finding(report, "id", "unique")
    assert unique.failing_rows == 7  # 12 rows, 5 distinct values
    assert [e.row for e in unique.examples] == [5, 6, 7, 8, 9]
    assert "7 rows repeat a value of an earlier row, e.g. row 5: 0" in unique.message


def test_counts_are_summed_over_chunks_and_examples_are_the_first_rows(tmp_path: Path):
    rows = "".join(f"{i},{50.0 if i % 3 == 0 else 1.0},benign,True,x,60.0\n" for i in range(30))
    path = write(tmp_path, "id,radius,diagnosis,smoker,code,worst radius\n" + rows)

    for chunk_rows in (7, 1000):
        report = validate_file(path, SCHEMA, chunk_rows=chunk_rows)
        radius = finding(report, "radius", "range")
        assert radius.failing_rows == 10
        assert [e.row for e in radius.examples] == [0, 3, 6, 9, 12]
        assert report.failing_rows == 10


def test_row_count_bounds(tmp_path: Path):
    report = validate_file(
        write(tmp_path, GOOD.splitlines()[0] + "\n1,1.0,benign,True,x,2.0\n"), SCHEMA
    )

    rows = finding(report, None, "rows")
    assert rows.message == "expected [2, 100] rows, found 1"


def test_an_expression_that_fails_names_the_rows_and_the_columns_it_uses(tmp_path: Path):
    text = GOOD + "4,20.0,benign,True,x,10.0\n5,20.0,benign,True,x,\n"

    report = validate_file(write(tmp_path, text), SCHEMA)

    check = finding(report, None, "worst is at least mean")
    assert check.failing_rows == 1  # row 4 has no worst radius: that is nullable's business
    assert check.examples[0].row == 3
    assert check.examples[0].values == {"radius": 20.0, "worst radius": 10.0}


def test_an_expression_that_cannot_be_evaluated_is_a_finding_not_a_crash(tmp_path: Path):
    schema = SCHEMA.model_copy(
        update={
            "checks": parse_schema("columns: {}\nchecks: [{name: bad, expr: nosuch > 1}]").checks
        }
    )

    report = validate_file(write(tmp_path, GOOD), schema)

    bad = finding(report, None, "bad")
    assert bad.message.startswith("could not be evaluated: ")
    assert "nosuch" in bad.message


def test_text_columns_keep_their_leading_zeros(tmp_path: Path):
    schema = parse_schema("columns: {code: {dtype: string, allowed: ['007', 'A1']}}")

    report = validate_file(write(tmp_path, "code\n007\nA1\n007\n"), schema)

    assert report.passed, report.findings


def test_parquet_is_read_in_batches_with_global_row_numbers(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "id": np.arange(10) % 6,
            "radius": np.linspace(1, 40, 10),
            "diagnosis": pd.Categorical(["benign"] * 9 + ["other"]),
            "smoker": [True] * 10,
            "code": ["x"] * 10,
            "worst radius": np.linspace(2, 41, 10),
        }
    )
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)

    report = validate_file(path, SCHEMA, chunk_rows=3)

    assert report.rows == 10
    assert [e.row for e in finding(report, "id", "unique").examples] == [6, 7, 8, 9]
    assert finding(report, "diagnosis", "allowed").examples[0].row == 9
    assert finding(report, "radius", "range").failing_rows == 3


def test_a_parquet_column_of_another_type_is_a_dtype_finding(tmp_path: Path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"code": [1, 2, None]}).to_parquet(path)

    report = validate_file(path, parse_schema("columns: {code: {dtype: string, nullable: true}}"))

    dtype = finding(report, "code", "dtype")
    assert dtype.failing_rows == 2
    assert dtype.message.startswith("expected string, found float64: 2 values are not text")


def test_in_memory_frames_are_numbered_by_position():
    frame = pd.DataFrame({"x": [1.0, -1.0]}, index=[10, 20])

    report = validate_frame(frame, parse_schema("columns: {x: {dtype: float64, min: 0}}"))

    assert finding(report, "x", "range").examples[0].row == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", b"", "is empty: expected a header line"),
        ("data.txt", b"a\n1\n", "unknown extension '.txt'"),
        ("data", b"a\n1\n", "unknown extension '(none)'"),
        ("broken.parquet", b"PAR1 not really", "is not a readable Parquet file"),
        ("latin1.csv", "a\ncafé\n".encode("latin-1"), "is not UTF-8 text"),
        ("ragged.csv", b"a,b\n1,2\n1,2,3,4\n", "is not valid CSV"),
    ],
)
def test_unreadable_files_are_data_errors(tmp_path: Path, name: str, content: bytes, expected: str):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(DataError, match=re.escape(expected)):
        validate_file(path, SCHEMA)


def test_a_missing_file_or_a_directory_is_reported(tmp_path: Path):
    with pytest.raises(NotFoundError, match="does not exist"):
        validate_file(tmp_path / "nope.csv", SCHEMA)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        validate_file(tmp_path / "dir.csv", SCHEMA)


def test_a_header_only_file_has_zero_rows_and_still_checks_columns(tmp_path: Path):
    report = validate_file(write(tmp_path, "id,radius\n"), SCHEMA)

    assert report.rows == 0
    assert finding(report, "diagnosis", "required").failing_rows == 0
    assert finding(report, None, "rows").message == "expected [2, 100] rows, found 0"


def test_an_empty_parquet_file_is_validated_as_zero_rows(tmp_path: Path):
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"x": pd.Series([], dtype="float64")}).to_parquet(path)

    report = validate_file(path, parse_schema("columns: {x: {dtype: float64}}"))

    assert report.passed
    assert report.rows == 0
    assert report.columns == 1
