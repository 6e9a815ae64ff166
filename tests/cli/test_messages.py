"""Messages for less common mistakes: each names what is wrong and where."""

from __future__ import annotations

import json
import os

import yaml

from conveyor.ids import new_id, utcnow
from conveyor.store import open_store
from conveyor.store.entities import NewRun


def project_with(make_project, stages: dict, **files: str):
    return make_project({"conveyor.yaml": yaml.safe_dump({"stages": stages}), **files})


def test_a_broken_link_in_a_directory_out_fails_the_stage_and_the_run_is_closed(make_project, cli):
    root = project_with(
        make_project, {"s": {"cmd": "mkdir -p out && ln -sf ../nowhere out/x", "outs": ["out"]}}
    )

    result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "is a broken symbolic link" in result.output
    runs = json.loads(cli("runs", "--json", cwd=root).stdout)
    assert runs[0]["status"] == "failed"


def test_a_link_to_a_directory_inside_a_dep_is_refused_clearly(make_project, cli):
    root = project_with(make_project, {"s": {"cmd": "true", "deps": ["data"], "outs": ["o"]}})
    (root / "data").mkdir()
    (root / "elsewhere").mkdir()
    os.symlink(root / "elsewhere", root / "data/linked")

    result = cli("status", cwd=root)

    assert result.exit_code == 1
    assert "symbolic link to a directory" in result.stderr
    assert "Traceback" not in result.output


def test_a_run_left_running_by_a_killed_process_is_marked_crashed(make_project, cli):
    root = project_with(make_project, {"s": {"cmd": "echo x > o.txt", "outs": ["o.txt"]}})
    (root / ".conveyor").mkdir()
    store = open_store(f"sqlite:///{root / '.conveyor/conveyor.db'}")
    dead = new_id()
    store.runs.create(NewRun(id=dead, started_at=utcnow(), project=str(root), trigger="manual"))

    result = cli("run", cwd=root)

    assert result.exit_code == 0
    assert f"run {dead} had stopped without recording its end" in result.output
    assert store.runs.get(dead).status == "crashed"


def test_one_line_for_a_value_of_the_wrong_type(make_project, cli):
    root = project_with(make_project, {"s": {"cmd": "true", "env": {"A": [1, 2]}}})

    result = cli("status", cwd=root)

    lines = [line for line in result.stderr.splitlines() if "stages.s.env.A" in line]
    assert len(lines) == 1
    assert "should be a valid string, integer, number or boolean" in lines[0]


def test_a_malformed_params_file_is_named(make_project, cli):
    root = project_with(
        make_project, {"s": {"cmd": "true", "params": ["lr"]}}, **{"params.yaml": "lr: [1\n"}
    )

    result = cli("status", cwd=root)

    assert result.exit_code == 1
    assert "params file params.yaml is malformed" in result.stderr
    assert "in params.yaml, line" in result.stderr
    assert "unicode string" not in result.stderr


def test_a_lock_file_of_the_wrong_shape_says_so(make_project, cli):
    root = project_with(
        make_project, {"s": {"cmd": "true"}}, **{"conveyor.lock": "stages: [1, 2]\n"}
    )

    result = cli("status", cwd=root)

    assert result.exit_code == 1
    assert "conveyor.lock should map 'stages' to one entry per stage" in result.stderr


def test_logs_of_a_stage_that_did_not_execute_say_why(make_project, cli):
    root = project_with(make_project, {"s": {"cmd": "echo hi > o.txt", "outs": ["o.txt"]}})
    cli("run", cwd=root)
    (root / "o.txt").unlink()
    cli("run", cwd=root)
    latest = json.loads(cli("runs", "--json", cwd=root).stdout)[0]["id"]

    result = cli("logs", latest, "s", cwd=root)

    assert f"did not execute in run {latest} (cached)" in result.stderr


def test_a_bad_jobs_setting_is_refused(make_project, cli, monkeypatch):
    root = project_with(make_project, {"s": {"cmd": "true"}})
    monkeypatch.setenv("CONVEYOR_JOBS", "many")

    result = cli("run", "--force", cwd=root)

    assert result.exit_code == 1
    assert "CONVEYOR_JOBS='many' is not a positive whole number" in result.stderr


def test_json_output_is_strict_json_even_for_nan_metrics(make_project, cli, py_cmd):
    write = py_cmd("open('m.json', 'w').write('{\"loss\": NaN, \"gain\": Infinity}')")
    root = project_with(make_project, {"s": {"cmd": write, "metrics": ["m.json"]}})
    cli("run", cwd=root)

    text = cli("runs", "--json", cwd=root).stdout

    run = json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert run[0]["metrics"] == {"loss": "nan", "gain": "inf"}


def test_version(tmp_path, cli):
    result = cli("--version", cwd=tmp_path)

    assert result.exit_code == 0
    assert result.stdout.startswith("conveyor 0.")
