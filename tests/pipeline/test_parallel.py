"""Independent stages run at the same time; `--jobs 1` runs them one after another."""

from __future__ import annotations

import json

import pytest
import yaml

from conveyor.pipeline.runner import RunOptions, run_pipeline
from conveyor.project import Project
from conveyor.settings import Settings


@pytest.fixture
def two_independent(make_project, py_cmd):
    def stage(name: str) -> dict:
        cmd = py_cmd(f"""
            import json, time
            start = time.time(); time.sleep(1.0)
            json.dump([start, time.time()], open('{name}.json', 'w'))
        """)
        return {"cmd": cmd, "outs": [f"{name}.json"]}

    config = {"stages": {"left": stage("left"), "right": stage("right")}}
    return make_project({"conveyor.yaml": yaml.safe_dump(config)})


def intervals(root):
    return [json.loads((root / f"{name}.json").read_text()) for name in ("left", "right")]


def overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_independent_stages_overlap_in_time(two_independent):
    run_pipeline(Project(two_independent), Settings(), RunOptions(jobs=2))

    assert overlap(*intervals(two_independent))


def test_one_job_runs_stages_one_after_another(two_independent):
    run_pipeline(Project(two_independent), Settings(), RunOptions(jobs=1))

    assert not overlap(*intervals(two_independent))
