"""`conveyor validate`: files, declared entries, --json, --infer, and errors without tracebacks."""

from __future__ import annotations

import json

import pytest
import yaml

from conveyor.validation import load_schema

SCHEMA = """\
rows: {min: 1}
columns:
  age: {dtype: int64, min: 0, max: 120}
  plan: {dtype: string, allowed: [basic, pro]}
"""
GOOD = "age,plan\n30,basic\n41,pro\n"
BAD = "age,plan\n30,basic\n-4,pro\n200,gold\nabc,pro\n"


@pytest.fixture
def project(make_project):
    config = {
        "stages": {"train": {"cmd": "true", "deps": ["good.csv"]}},
        "validation": {
            "good": {"data": "good.csv", "schema": "schema.yaml"},
            "bad": {"data": "bad.csv", "schema": "schema.yaml"},
        },
    }
    return make_project(
        {
            "conveyor.yaml": yaml.safe_dump(config, sort_keys=False),
            "schema.yaml": SCHEMA,
            "good.csv": GOOD,
            "bad.csv": BAD,
        }
    )


def test_a_file_that_passes_gets_one_line(cli, project):
    result = cli("validate", "good.csv", "--schema", "schema.yaml", cwd=project)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "passed good.csv: 2 rows, 2 columns, 9 checks passed"


def test_a_file_that_fails_gets_a_table_and_exit_code_1(cli, project):
    result = cli("validate", "bad.csv", "--schema", "schema.yaml", cwd=project)

    assert result.exit_code == 1
    assert (
        "FAILED bad.csv: 4 rows, 2 columns: 3 of 9 checks failed (3 rows failing)" in result.stdout
    )
    table = result.stdout.splitlines()
    assert any(line.split()[:3] == ["age", "dtype", "1"] for line in table)
    assert any(line.split()[:3] == ["age", "range", "2"] for line in table)
    assert any(line.split()[:3] == ["plan", "allowed", "1"] for line in table)
    assert "'gold' (1 row)" in result.stdout
    assert "error: bad.csv does not match schema.yaml: 3 of 9 checks failed" in result.stderr
    assert "(age: dtype, range; plan: allowed)" in result.stderr
    assert "Traceback" not in result.output


def test_json_is_the_full_report(cli, project):
    result = cli("validate", "bad.csv", "-s", "schema.yaml", "--json", cwd=project)

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["rows"] == 4
    age_range = next(f for f in report["findings"] if f["check"] == "range")
    assert age_range["examples"] == [
        {"row": 1, "values": {"age": -4}},
        {"row": 2, "values": {"age": 200}},
    ]


def test_every_declared_entry_by_default_and_one_by_name(cli, project):
    every = cli("validate", cwd=project)
    one = cli("validate", "good", cwd=project)
    as_json = json.loads(cli("validate", "--json", cwd=project).stdout)

    assert every.exit_code == 1
    assert "passed good: good.csv" in every.stdout
    assert "FAILED bad: bad.csv" in every.stdout
    assert "1 of 2 data sets failed validation:\n  bad: bad.csv does not match" in every.stderr
    assert one.exit_code == 0
    assert one.stdout.startswith("passed good: good.csv: 2 rows")
    assert [entry["name"] for entry in as_json] == ["good", "bad"]


def test_infer_writes_a_schema_that_the_data_passes(cli, project):
    written = cli("validate", "--infer", "good.csv", "-o", "schemas/new.yaml", cwd=project)
    again = cli("validate", "--infer", "good.csv", "-o", "schemas/new.yaml", cwd=project)
    forced = cli(
        "validate", "--infer", "good.csv", "-o", "schemas/new.yaml", "--force", cwd=project
    )
    printed = cli("validate", "--infer", "good.csv", cwd=project)
    checked = cli("validate", "good.csv", "--schema", "schemas/new.yaml", cwd=project)

    assert written.exit_code == 0
    assert "review it before committing" in written.stdout
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert forced.exit_code == 0
    assert printed.stdout.startswith(
        "# Data schema for `conveyor validate`, inferred from good.csv"
    )
    assert load_schema(project / "schemas/new.yaml").columns["plan"].dtype == "string"
    assert checked.exit_code == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["good.csv"], "good.csv looks like a data file: give its schema"),
        (["--infer"], "give the data file to infer from"),
        (["--schema", "schema.yaml"], "give the data file to check"),
        (["good.csv", "-o", "x.yaml"], "--output, --force, --range-margin and --range-quan"),
        (["--infer", "good.csv", "--schema", "schema.yaml"], "do not go together"),
    ],
)
def test_wrong_usage_is_exit_code_2(cli, project, args, expected):
    result = cli("validate", *args, cwd=project)

    assert result.exit_code == 2
    assert expected in result.output


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        ({"e.csv": ""}, ["e.csv", "-s", "schema.yaml"], "e.csv is empty"),
        ({"d.json": "{}"}, ["d.json", "-s", "schema.yaml"], "unknown extension '.json'"),
        ({"b.parquet": "nope"}, ["b.parquet", "-s", "schema.yaml"], "not a readable Parquet"),
        (
            {"s2.yaml": "columns:\n  age: {dtype: int64, maxx: 3}\n"},
            ["good.csv", "-s", "s2.yaml"],
            "s2.yaml:2:23: columns.age.maxx: unknown key (did you mean 'max'?)",
        ),
        ({}, ["nope", "-s", "schema.yaml"], "data file nope does not exist"),
        ({}, ["nosuch"], "no validation entry named 'nosuch'"),
    ],
)
def test_bad_input_is_an_error_message_not_a_traceback(cli, project, files, args, expected):
    for name, text in files.items():
        (project / name).write_text(text, encoding="utf-8")

    result = cli("validate", *args, cwd=project)

    assert result.exit_code == 1
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_a_project_without_a_validation_block_says_what_to_add(cli, make_project):
    root = make_project({"conveyor.yaml": "stages:\n  s: {cmd: 'true'}\n"})

    result = cli("validate", cwd=root)

    assert result.exit_code == 1
    assert "declares no data to validate" in result.stderr


TRAIN = "x,n\n" + "".join(f"{i / 10},{i // 2}\n" for i in range(101))  # x: [0, 10], n: [0, 50]
HOLDOUT = "x,n\n-0.3,-2\n10.4,52\n" + "5.0,50\n" * 20  # a little outside the train ranges


def test_infer_with_a_range_margin_lets_a_holdout_slightly_outside_pass(cli, tmp_path):
    (tmp_path / "train.csv").write_text(TRAIN)
    (tmp_path / "holdout.csv").write_text(HOLDOUT)
    exact = cli("validate", "--infer", "train.csv", "-o", "exact.yaml", cwd=tmp_path)
    wide = cli(
        "validate", "--infer", "train.csv", "-o", "wide.yaml", "--range-margin", "0.05",
        cwd=tmp_path,
    )  # fmt: skip

    assert exact.exit_code == 0, exact.output
    assert wide.exit_code == 0, wide.output
    assert "ranges: the smallest and largest values seen;" in exact.stdout
    assert "widened by 5% of each range" in wide.stdout
    assert cli("validate", "holdout.csv", "-s", "exact.yaml", cwd=tmp_path).exit_code == 1
    assert cli("validate", "holdout.csv", "-s", "wide.yaml", cwd=tmp_path).exit_code == 0
    written = (tmp_path / "wide.yaml").read_text()
    assert "--range-margin 0.05" in written  # the schema says which rule made its bounds
    columns = load_schema(tmp_path / "wide.yaml").columns
    assert (columns["x"].min, columns["x"].max) == (-0.5, 10.5)
    assert (columns["n"].min, columns["n"].max) == (-3, 53)  # rounded outwards


def test_infer_with_range_quantiles_ignores_an_outlier(cli, tmp_path):
    (tmp_path / "train.csv").write_text(TRAIN + "1000.0,5\n")
    result = cli(
        "validate", "--infer", "train.csv", "-o", "q.yaml", "--range-quantiles", "0.01,0.99",
        "--chunk-rows", "7", cwd=tmp_path,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "quantiles 0.01 to 0.99" in result.stdout
    assert "--range-quantiles 0.01,0.99" in (tmp_path / "q.yaml").read_text()
    x = load_schema(tmp_path / "q.yaml").columns["x"]
    assert 0.0 <= x.min <= 0.2
    assert 9.8 <= x.max <= 10.0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--range-margin", "-0.1"], "--range-margin"),
        (["--range-quantiles", "0.9,0.1"], "LOW,HIGH with 0 <= LOW < HIGH <= 1"),
        (["--range-quantiles", "abc"], "LOW,HIGH with 0 <= LOW < HIGH <= 1"),
        (["--schema", "s.yaml", "--range-margin", "0.1"], "go with --infer"),
    ],
)
def test_range_options_are_checked(cli, tmp_path, args, expected):
    (tmp_path / "train.csv").write_text(TRAIN)
    infer = [] if "--schema" in args else ["--infer"]
    result = cli("validate", *infer, "train.csv", *args, cwd=tmp_path)

    assert result.exit_code == 2
    assert expected in result.output
