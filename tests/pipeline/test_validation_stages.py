"""The validation: block as pipeline stages: validate-NAME runs before whatever reads the data."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.config import ProjectConfig
from conveyor.errors import ConfigError
from conveyor.pipeline.executors import with_conveyor_on_path
from conveyor.pipeline.spec import build_pipeline

SCHEMA = "columns:\n  x: {dtype: int64, min: 0}\n"


def pipeline_of(stages: dict, validation: dict):
    return build_pipeline(
        ProjectConfig.model_validate({"stages": stages, "validation": validation})
    )


def test_each_entry_becomes_a_stage_that_reads_the_data_and_the_schema():
    pipeline = pipeline_of(
        {"prepare": {"cmd": "p", "outs": ["data/train.csv"]}},
        {"train": {"data": "./data/train.csv", "schema": "schemas/train.yaml"}},
    )

    stage = pipeline.stages["validate-train"]
    assert stage.cmd == "conveyor validate train"
    assert stage.deps == ("data/train.csv", "schemas/train.yaml")
    assert stage.outs == ()
    assert not stage.cache
    assert stage.desc == "Validate data/train.csv against schemas/train.yaml"
    assert pipeline.upstream["validate-train"] == ("prepare",)


def test_stages_reading_the_data_run_after_its_validation():
    pipeline = pipeline_of(
        {
            "prepare": {"cmd": "p", "outs": ["data/train.csv"]},
            "train": {"cmd": "t", "deps": ["data/train.csv"], "outs": ["model"]},
            "report": {"cmd": "r", "deps": ["data"]},  # the directory holding it
            "unrelated": {"cmd": "u", "deps": ["other.csv"]},
        },
        {"train": {"data": "data/train.csv", "schema": "s.yaml"}},
    )

    assert set(pipeline.upstream["train"]) == {"prepare", "validate-train"}
    assert set(pipeline.upstream["report"]) == {"prepare", "validate-train"}
    assert pipeline.upstream["unrelated"] == ()
    assert pipeline.upstream["prepare"] == ()  # the producer does not wait for its check
    order = pipeline.order
    assert order.index("prepare") < order.index("validate-train") < order.index("train")


def test_a_stage_with_the_name_of_a_validation_stage_is_refused():
    with pytest.raises(ConfigError, match="'validate-train' has the name of the stage made"):
        pipeline_of({"validate-train": {"cmd": "x"}}, {"train": {"data": "a.csv", "schema": "s"}})


def test_the_interpreters_directory_is_appended_to_the_path_of_stages():
    here = os.path.dirname(sys.executable)

    env = with_conveyor_on_path({"PATH": "/usr/bin:/bin"})

    assert env["PATH"] == f"/usr/bin:/bin:{here}"  # the user's python still comes first
    assert with_conveyor_on_path(env) == env
    assert with_conveyor_on_path({})["PATH"].endswith(here)


@pytest.fixture
def project(make_project):
    config = {
        "stages": {
            "prepare": {"cmd": "cp raw.csv data.csv", "deps": ["raw.csv"], "outs": ["data.csv"]},
            "train": {
                "cmd": "wc -l data.csv > model.txt",
                "deps": ["data.csv"],
                "outs": ["model.txt"],
            },
        },
        "validation": {"data": {"data": "data.csv", "schema": "schema.yaml"}},
    }
    return make_project(
        {
            "conveyor.yaml": yaml.safe_dump(config, sort_keys=False),
            "schema.yaml": SCHEMA,
            "raw.csv": "x\n1\n2\n",
        }
    )


def test_dag_and_status_show_the_validation_stage(cli, project: Path):
    dag = json.loads(cli("dag", "--json", cwd=project).stdout)
    status = cli("status", cwd=project)

    assert dag["stages"] == ["prepare", "validate-data", "train"]
    assert ["validate-data", "train"] in dag["edges"]
    assert "validate-data: stale" in status.stdout


@pytest.mark.slow
def test_bad_data_stops_the_pipeline_before_training(cli, project: Path):
    first = cli("run", cwd=project)
    again = cli("run", cwd=project)
    (project / "raw.csv").write_text("x\n1\n-2\n", encoding="utf-8")
    bad = cli("run", cwd=project)

    assert first.exit_code == 0, first.output
    assert "Everything is up to date" in again.stdout  # the validation did not run again
    assert bad.exit_code == 1
    assert "stage 'validate-data' failed" in bad.stdout
    assert (
        "data: data.csv does not match schema.yaml: 1 of 4 checks failed (x: range)" in bad.stdout
    )
    runs = json.loads(cli("runs", "--json", cwd=project).stdout)
    stages = {stage["stage"]: stage["status"] for stage in runs[0]["stages"]}
    assert stages == {"prepare": "ran", "validate-data": "failed", "train": "skipped"}
    assert runs[0]["metrics"] == {
        "validation.data.failing_rows": 1.0,
        "validation.data.passed": 0.0,
    }
    assert runs[1]["metrics"] == {
        "validation.data.failing_rows": 0.0,
        "validation.data.passed": 1.0,
    }
