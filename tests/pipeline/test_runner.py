"""`conveyor run` through its Python API: caching, restoring, re-running what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conveyor.errors import PipelineError
from conveyor.pipeline.lock import read_lock
from conveyor.pipeline.runner import RunOptions, run_pipeline
from conveyor.project import Project
from conveyor.settings import Settings
from conveyor.store import open_store

PARAMS = {"prepare": {"factor": 2}, "train": {"lr": 0.1}}


def log_line(name: str) -> str:
    return f"open('executions.log', 'a').write('{name}\\n')"


@pytest.fixture
def three_stages(make_project, py_cmd):
    """raw.txt -> prepare (dir out) -> train -> evaluate (metrics); each logs its runs."""
    prepare = py_cmd(f"""
        import os, yaml
        f = yaml.safe_load(open('params.yaml'))['prepare']['factor']
        os.makedirs('data/prep', exist_ok=True)
        raw = open('raw.txt').read()
        open('data/prep/a.txt', 'w').write(raw * f)
        open('data/prep/b.txt', 'w').write('b')
        {log_line("prepare")}
    """)
    train = py_cmd(f"""
        import yaml
        lr = yaml.safe_load(open('params.yaml'))['train']['lr']
        open('model.txt', 'w').write(open('data/prep/a.txt').read() + str(lr))
        {log_line("train")}
    """)
    evaluate = py_cmd(f"""
        import json
        model = open('model.txt').read()
        json.dump({{'score': len(model) / 100, 'nested': {{'n': 3}}}}, open('metrics.json', 'w'))
        {log_line("evaluate")}
    """)
    config = {
        "stages": {
            "prepare": {
                "cmd": prepare,
                "deps": ["raw.txt"],
                "params": ["prepare.factor"],
                "outs": ["data/prep"],
            },
            "train": {
                "cmd": train,
                "deps": ["data/prep"],
                "params": ["train.lr"],
                "outs": ["model.txt"],
            },
            "evaluate": {"cmd": evaluate, "deps": ["model.txt"], "metrics": ["metrics.json"]},
        }
    }
    return make_project(
        {
            "conveyor.yaml": yaml.safe_dump(config),
            "params.yaml": yaml.safe_dump(PARAMS),
            "raw.txt": "hello ",
        }
    )


def run(root: Path, **options):
    return run_pipeline(Project(root), Settings(), RunOptions(**options))


def executions(root: Path) -> list[str]:
    path = root / "executions.log"
    lines = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def statuses(summary) -> dict[str, str]:
    return {o.stage: o.status for o in summary.outcomes}


def test_first_run_executes_every_stage_and_records_it(three_stages):
    summary = run(three_stages)

    assert summary.status == "success"
    assert executions(three_stages) == ["prepare", "train", "evaluate"]
    assert summary.metrics == {"score": 0.15, "nested.n": 3.0}
    run_record = open_store(f"sqlite:///{three_stages / '.conveyor/conveyor.db'}").runs.get(
        summary.run_id
    )
    assert run_record.status == "success"
    assert run_record.params == {"prepare.factor": 2, "train.lr": 0.1}
    assert [s.status for s in run_record.stages] == ["ran", "ran", "ran"]


def test_second_run_is_a_no_op_without_recording_a_run(three_stages):
    run(three_stages)
    executions(three_stages)

    summary = run(three_stages)

    assert summary.run_id is None
    assert summary.status == "up-to-date"
    assert executions(three_stages) == []


def test_deleted_outs_are_restored_from_cache_not_rerun(three_stages):
    run(three_stages)
    executions(three_stages)
    before = (three_stages / "model.txt").read_text()
    for out in ("data/prep/a.txt", "model.txt", "metrics.json"):
        (three_stages / out).unlink()

    summary = run(three_stages)

    assert statuses(summary) == {"prepare": "cached", "train": "cached", "evaluate": "cached"}
    assert executions(three_stages) == []
    assert (three_stages / "model.txt").read_text() == before
    assert (three_stages / "data/prep/b.txt").read_text() == "b"


def test_changed_param_reruns_only_the_stages_that_depend_on_it(three_stages):
    run(three_stages)
    executions(three_stages)
    (three_stages / "params.yaml").write_text(yaml.safe_dump({**PARAMS, "train": {"lr": 0.5}}))

    summary = run(three_stages)

    assert statuses(summary) == {"prepare": "unchanged", "train": "ran", "evaluate": "ran"}
    assert executions(three_stages) == ["train", "evaluate"]
    assert read_lock(three_stages)["train"].params == {"train.lr": 0.5}


def test_going_back_to_old_inputs_restores_old_outs_from_the_run_cache(three_stages):
    run(three_stages)
    old_lock = (three_stages / "conveyor.lock").read_text()
    old_model = (three_stages / "model.txt").read_text()
    (three_stages / "params.yaml").write_text(yaml.safe_dump({**PARAMS, "train": {"lr": 0.9}}))
    run(three_stages)
    executions(three_stages)
    # like `git checkout` of the older commit: old params and old lock, new outs on disk
    (three_stages / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    (three_stages / "conveyor.lock").write_text(old_lock)

    summary = run(three_stages)

    assert statuses(summary)["train"] == "cached"
    assert executions(three_stages) == []
    assert (three_stages / "model.txt").read_text() == old_model


def test_run_cache_is_used_even_when_the_lock_file_is_gone(three_stages):
    run(three_stages)
    executions(three_stages)
    (three_stages / "conveyor.lock").unlink()
    (three_stages / "model.txt").unlink()

    summary = run(three_stages)

    assert set(statuses(summary).values()) == {"cached"}
    assert executions(three_stages) == []


def test_force_reruns_everything(three_stages):
    run(three_stages)
    executions(three_stages)

    summary = run(three_stages, force=True)

    assert set(statuses(summary).values()) == {"ran"}
    assert executions(three_stages) == ["prepare", "train", "evaluate"]


def test_targets_run_only_their_upstream_closure(three_stages):
    summary = run(three_stages, targets=("train",))

    assert [o.stage for o in summary.outcomes] == ["prepare", "train"]
    assert not (three_stages / "metrics.json").exists()


def test_lock_records_the_digest_of_every_dep_param_and_out(three_stages):
    run(three_stages)

    lock = yaml.safe_load((three_stages / "conveyor.lock").read_text())
    prepare = lock["stages"]["prepare"]
    assert prepare["deps"]["raw.txt"]["kind"] == "file"
    assert prepare["params"] == {"prepare.factor": 2}
    assert prepare["outs"]["data/prep"]["kind"] == "dir"
    assert prepare["outs"]["data/prep"]["nfiles"] == 2
    assert lock["stages"]["evaluate"]["outs"]["metrics.json"]["metric"] is True
    assert len(prepare["key"]) == 64


def test_one_changed_file_in_a_directory_out_stores_one_new_object(make_project, py_cmd):
    write = py_cmd("""
        import os, yaml
        n = yaml.safe_load(open('params.yaml'))['n']
        os.makedirs('many', exist_ok=True)
        for i in range(50):
            open(f'many/{i}.txt', 'w').write(str(i if i else n))
    """)
    root = make_project(
        {
            "conveyor.yaml": yaml.safe_dump(
                {"stages": {"gen": {"cmd": write, "params": ["n"], "outs": ["many"]}}}
            ),
            "params.yaml": "n: 1000\n",
        }
    )
    objects = root / ".conveyor/store/objects"
    run(root)
    first = {p for p in objects.rglob("*") if p.is_file()}
    (root / "params.yaml").write_text("n: 2000\n")

    run(root)

    added = {p for p in objects.rglob("*") if p.is_file()} - first
    assert len(added) == 2  # the changed file, and the directory's new manifest


def test_cache_false_stage_is_never_restored(make_project, py_cmd):
    cmd = py_cmd(f"open('out.txt', 'w').write('x'); {log_line('s')}")
    root = make_project(
        {
            "conveyor.yaml": yaml.safe_dump(
                {"stages": {"s": {"cmd": cmd, "outs": ["out.txt"], "cache": False}}}
            )
        }
    )
    run(root)
    (root / "out.txt").unlink()

    summary = run(root)

    assert statuses(summary) == {"s": "ran"}
    assert executions(root) == ["s", "s"]


def test_always_run_stage_runs_every_time(make_project, py_cmd):
    cmd = py_cmd(f"open('out.txt', 'w').write('x'); {log_line('s')}")
    root = make_project(
        {
            "conveyor.yaml": yaml.safe_dump(
                {"stages": {"s": {"cmd": cmd, "outs": ["out.txt"], "always_run": True}}}
            )
        }
    )
    run(root)
    run(root)

    assert executions(root) == ["s", "s"]


def test_declared_env_is_set_and_is_part_of_the_key(make_project, py_cmd):
    cmd = py_cmd("import os; open('out.txt', 'w').write(os.environ['SEED'])")
    config = {"stages": {"s": {"cmd": cmd, "outs": ["out.txt"], "env": {"SEED": 1}}}}
    root = make_project({"conveyor.yaml": yaml.safe_dump(config)})
    run(root)
    assert (root / "out.txt").read_text() == "1"
    config["stages"]["s"]["env"]["SEED"] = 2
    (root / "conveyor.yaml").write_text(yaml.safe_dump(config))

    summary = run(root)

    assert statuses(summary) == {"s": "ran"}
    assert (root / "out.txt").read_text() == "2"


def test_stage_sees_its_run_and_stage_in_the_environment(make_project, py_cmd):
    cmd = py_cmd("""
        import os, json
        keys = ['CONVEYOR_RUN_ID', 'CONVEYOR_STAGE', 'CONVEYOR_DB_URL', 'CONVEYOR_ARTIFACTS']
        json.dump({k: os.environ[k] for k in keys}, open('env.json', 'w'))
    """)
    root = make_project(
        {"conveyor.yaml": yaml.safe_dump({"stages": {"s": {"cmd": cmd, "outs": ["env.json"]}}})}
    )

    summary = run(root)

    seen = json.loads((root / "env.json").read_text())
    assert seen["CONVEYOR_RUN_ID"] == summary.run_id
    assert seen["CONVEYOR_STAGE"] == "s"
    assert seen["CONVEYOR_DB_URL"].startswith("sqlite:///")


def test_missing_dep_that_no_stage_writes_is_reported_before_anything_runs(make_project):
    root = make_project(
        {
            "conveyor.yaml": yaml.safe_dump(
                {"stages": {"s": {"cmd": "true", "deps": ["nope.csv"], "outs": ["o"]}}}
            )
        }
    )

    with pytest.raises(PipelineError, match=r"s: nope\.csv"):
        run(root)
    assert not (root / ".conveyor/conveyor.db").exists()
