"""Nested params as dotted keys, and `diff` of what stages log with the SDK (issue 10)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from conveyor.store import open_store
from conveyor.store.tables import ParamRow


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def commit_all(root, message):
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", message)


@pytest.fixture
def nested(make_project, py_cmd):
    """One stage that declares a whole params section, a mapping."""
    train = py_cmd("""
        import json, yaml
        depth = yaml.safe_load(open('params.yaml'))['train']['max_depth']
        json.dump({'auc': 0.9 + depth / 100}, open('metrics.json', 'w'))
    """)
    config = {
        "stages": {
            "train": {"cmd": train, "params": ["train"], "metrics": ["metrics.json"]},
        }
    }
    params = "train:\n  max_depth: 3\n  booster: {eta: 0.1}\n"
    return make_project({"conveyor.yaml": yaml.safe_dump(config), "params.yaml": params})


def test_nested_params_are_recorded_and_searched_as_dotted_keys(nested, cli):
    assert cli("run", cwd=nested).exit_code == 0

    (run,) = json.loads(cli("runs", "--json", cwd=nested).stdout)
    found = cli("runs", "--json", "--where", "params.train.max_depth = '3'", cwd=nested)
    none = cli("runs", "--json", "--where", "params.train.booster.eta = '0.2'", cwd=nested)

    assert run["params"] == {"train.max_depth": 3, "train.booster.eta": 0.1}
    assert [r["id"] for r in json.loads(found.stdout)] == [run["id"]]
    assert json.loads(none.stdout) == []


def test_status_names_the_nested_param_that_changed(nested, cli):
    cli("run", cwd=nested)
    (nested / "params.yaml").write_text("train:\n  max_depth: 5\n  booster: {eta: 0.1}\n")

    states = json.loads(cli("status", "--json", cwd=nested).stdout)

    assert states[0]["reasons"] == ["param 'train.max_depth' changed: 3 -> 5"]


def test_diff_of_nested_params_shows_each_key(nested, cli):
    git(nested, "init", "-q")
    cli("run", cwd=nested)
    commit_all(nested, "baseline")
    (nested / "params.yaml").write_text("train:\n  max_depth: 5\n  booster: {eta: 0.1}\n")
    cli("run", cwd=nested)

    lock_vs_run = json.loads(cli("diff", "--json", cwd=nested).stdout)["rows"]
    first, second = reversed(json.loads(cli("runs", "--json", cwd=nested).stdout))
    run_vs_run = json.loads(cli("diff", "--json", first["id"], second["id"], cwd=nested).stdout)

    for rows in (lock_vs_run, run_vs_run["rows"]):
        params = {r["key"]: (r["old"], r["new"]) for r in rows if r["kind"] == "param"}
        assert params == {"train.max_depth": (3, 5)}


def test_a_run_stored_with_a_nested_param_before_reads_as_dotted_keys(nested, cli):
    cli("run", cwd=nested)
    (run,) = json.loads(cli("runs", "--json", cwd=nested).stdout)
    store = open_store(f"sqlite:///{nested / '.conveyor/conveyor.db'}")
    try:  # as Conveyor before dotted keys recorded it: one param holding the mapping
        with store.engine.begin() as conn:
            conn.execute(ParamRow.__table__.delete())
            old = {"max_depth": 3, "booster": {"eta": 0.1}}
            conn.execute(
                ParamRow.__table__.insert(),
                {"run_id": run["id"], "key": "train", "value": json.dumps(old), "text": None},
            )
    finally:
        store.close()

    shown = json.loads(cli("show", run["id"], "--json", cwd=nested).stdout)

    assert shown["params"] == {"train.max_depth": 3, "train.booster.eta": 0.1}


SDK_STAGE = """
import json, conveyor as cv
cv.log_params({"lr": 0.1})
cv.log_metrics({"val_loss": 0.25})
json.dump({"auc": 0.9}, open("metrics.json", "w"))
"""


@pytest.fixture
def logging_stage(make_project, py_cmd):
    config = {"stages": {"train": {"cmd": py_cmd(SDK_STAGE), "metrics": ["metrics.json"]}}}
    return make_project({"conveyor.yaml": yaml.safe_dump(config)})


def test_diff_against_a_lock_does_not_invent_sdk_values_it_never_had(logging_stage, cli):
    git(logging_stage, "init", "-q")
    cli("run", cwd=logging_stage)
    commit_all(logging_stage, "baseline")

    out = cli("diff", cwd=logging_stage).stdout

    assert "No params or metrics differ" in out, out


def test_a_stage_restored_from_cache_carries_what_its_sdk_logged(logging_stage, cli):
    assert cli("run", cwd=logging_stage).exit_code == 0
    (logging_stage / "metrics.json").unlink()  # restored from the run cache next time
    assert cli("run", cwd=logging_stage).exit_code == 0

    cached, ran = json.loads(cli("runs", "--json", cwd=logging_stage).stdout)
    diff = json.loads(cli("diff", "--json", ran["id"], cached["id"], cwd=logging_stage).stdout)

    assert cached["stages"][0]["status"] == "cached"
    assert cached["params"] == {"lr": 0.1}
    assert cached["metrics"] == {"auc": 0.9, "val_loss": 0.25}
    assert diff["rows"] == []


def test_diff_against_a_lock_compares_what_the_stage_logged_then(logging_stage, py_cmd, cli):
    git(logging_stage, "init", "-q")
    cli("run", cwd=logging_stage)
    commit_all(logging_stage, "baseline")
    changed = SDK_STAGE.replace("0.25", "0.5")
    config = {"stages": {"train": {"cmd": py_cmd(changed), "metrics": ["metrics.json"]}}}
    (logging_stage / "conveyor.yaml").write_text(yaml.safe_dump(config))
    cli("run", cwd=logging_stage)

    rows = json.loads(cli("diff", "--json", cwd=logging_stage).stdout)["rows"]

    assert [(r["key"], r["old"], r["new"]) for r in rows] == [("val_loss", 0.25, 0.5)]
