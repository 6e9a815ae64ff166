"""The validation: block: entries validated by name, reports summarised for conveyor check."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conveyor.config import load_config
from conveyor.errors import ConfigError, NotFoundError
from conveyor.evaluation.results import ValidationSummary
from conveyor.validation import validate_declared

SCHEMA = "columns:\n  x: {dtype: int64, min: 0}\n  y: {dtype: string, allowed: [a, b]}\n"


@pytest.fixture
def project(make_project) -> Path:
    config = {
        "stages": {"train": {"cmd": "true", "deps": ["data/train.csv"]}},
        "validation": {
            "train": {"data": "data/train.csv", "schema": "schemas/train.yaml"},
            "holdout": {
                "data": "data/holdout.csv",
                "schema": "schemas/train.yaml",
                "chunk_rows": 1,
            },
        },
    }
    return make_project(
        {
            "conveyor.yaml": yaml.safe_dump(config, sort_keys=False),
            "schemas/train.yaml": SCHEMA,
            "data/train.csv": "x,y\n1,a\n2,b\n",
            "data/holdout.csv": "x,y\n1,a\n-2,c\n3,c\n",
        }
    )


def test_every_entry_is_validated_in_order_with_paths_as_declared(project: Path):
    results = validate_declared(project, load_config(project / "conveyor.yaml"))

    assert [name for name, _ in results] == ["train", "holdout"]
    train, holdout = (report for _, report in results)
    assert train.passed
    assert (train.data, train.schema) == ("data/train.csv", "schemas/train.yaml")
    assert not holdout.passed
    assert holdout.failing_rows == 2


def test_one_entry_by_name(project: Path):
    results = validate_declared(project, load_config(project / "conveyor.yaml"), ["holdout"])

    assert [name for name, _ in results] == ["holdout"]


def test_an_unknown_name_suggests_the_closest(project: Path):
    with pytest.raises(NotFoundError, match="did you mean 'holdout'") as caught:
        validate_declared(project, load_config(project / "conveyor.yaml"), ["holdot"])

    assert "entries: train, holdout" in str(caught.value)


def test_the_summary_is_what_conveyor_check_keeps(project: Path):
    _, report = validate_declared(project, load_config(project / "conveyor.yaml"), ["holdout"])[0]

    summary = report.summary("holdout")

    assert isinstance(summary, ValidationSummary)
    assert (summary.name, summary.data, summary.schema) == (
        "holdout",
        "data/holdout.csv",
        "schemas/train.yaml",
    )
    assert (summary.rows, summary.passed, summary.failed_checks) == (3, False, 2)
    assert summary.failures[0] == {
        "column": "x",
        "check": "range",
        "failing_rows": 1,
        "message": "1 row is outside >= 0, e.g. row 1: -2",
    }


def test_paths_outside_the_project_are_refused_with_their_line(make_project):
    config = {
        "stages": {"s": {"cmd": "true"}},
        "validation": {"train": {"data": "/abs/train.csv", "schema": "s.yaml"}},
    }
    root = make_project({"conveyor.yaml": yaml.safe_dump(config)})

    with pytest.raises(ConfigError, match=r"conveyor.yaml:\d+:\d+: validation.train.data: "):
        load_config(root / "conveyor.yaml")
