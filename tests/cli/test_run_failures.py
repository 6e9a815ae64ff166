"""Bad input and failures in `conveyor run`: clear errors, and nothing stored is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from conveyor.pipeline.lock import read_lock
from conveyor.pipeline.runlock import RunLock

CONVEYOR = [sys.executable, "-m", "conveyor"]


def project_with(make_project, stages: dict, **files: str) -> Path:
    return make_project({"conveyor.yaml": yaml.safe_dump({"stages": stages}), **files})


def test_failing_stage_shows_exit_code_and_stderr_and_skips_only_downstream(
    make_project, py_cmd, cli
):
    root = project_with(
        make_project,
        {
            "bad": {
                "cmd": py_cmd("import sys; print('boom: bad input', file=sys.stderr); sys.exit(3)"),
                "outs": ["bad.txt"],
            },
            "after_bad": {
                "cmd": "cp bad.txt after.txt",
                "deps": ["bad.txt"],
                "outs": ["after.txt"],
            },
            "independent": {"cmd": "echo ok > ind.txt", "outs": ["ind.txt"]},
        },
    )

    result = cli("run", "--jobs", "1", cwd=root)

    assert result.exit_code == 1
    assert "exited with code 3" in result.output
    assert "boom: bad input" in result.output
    assert "Traceback" not in result.output
    assert (root / "ind.txt").read_text() == "ok\n"
    lock = read_lock(root)
    assert set(lock) == {"independent"}  # nothing of the failed stage is recorded
    runs = json.loads(cli("runs", "--json", cwd=root).stdout)
    stages = {s["stage"]: s["status"] for s in runs[0]["stages"]}
    assert runs[0]["status"] == "failed"
    assert stages == {"bad": "failed", "after_bad": "skipped", "independent": "ran"}
    bad = next(s for s in runs[0]["stages"] if s["stage"] == "bad")
    assert bad["exit_code"] == 3


def test_failed_stage_is_not_cached_and_runs_again_next_time(make_project, py_cmd, cli):
    flaky = py_cmd("""
        import os, sys
        open('out.txt', 'w').write('partial')
        if not os.path.exists('fixed'):
            sys.exit(1)
    """)
    root = project_with(make_project, {"s": {"cmd": flaky, "outs": ["out.txt"]}})
    assert cli("run", cwd=root).exit_code == 1
    (root / "fixed").write_text("")

    result = cli("run", cwd=root)

    assert result.exit_code == 0, result.output
    assert "ran" in result.stdout


def test_stage_that_does_not_write_a_declared_out_fails(make_project, cli):
    root = project_with(make_project, {"s": {"cmd": "true", "outs": ["model.bin"]}})

    result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "did not write declared outs: model.bin" in result.output
    assert read_lock(root) == {}


def test_cycle_is_reported_with_the_loop(make_project, cli):
    root = project_with(
        make_project,
        {
            "a": {"cmd": "cp b.txt a.txt", "deps": ["b.txt"], "outs": ["a.txt"]},
            "b": {"cmd": "cp a.txt b.txt", "deps": ["a.txt"], "outs": ["b.txt"]},
        },
    )

    result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "loop" in result.stderr
    assert "a -> b -> a" in result.stderr or "b -> a -> b" in result.stderr


def test_two_stages_writing_the_same_out_is_an_error(make_project, cli):
    root = project_with(
        make_project,
        {
            "one": {"cmd": "echo 1 > x.txt", "outs": ["x.txt"]},
            "two": {"cmd": "echo 2 > x.txt", "outs": ["./x.txt"]},
        },
    )

    result = cli("status", cwd=root)

    assert result.exit_code == 1
    assert "'one' and 'two' write 'x.txt'" in result.stderr


def test_missing_dep_is_named_with_its_stage(make_project, cli):
    root = project_with(
        make_project, {"train": {"cmd": "true", "deps": ["data/raw.csv"], "outs": ["m"]}}
    )

    result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "train: data/raw.csv" in result.stderr


def test_malformed_yaml_points_at_the_line_without_a_traceback(make_project, cli):
    root = make_project({"conveyor.yaml": "stages:\n  a:\n    cmd: [unclosed\n"})

    result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "conveyor.yaml:" in result.stderr
    assert "malformed YAML" in result.stderr
    assert "Traceback" not in result.output


def test_outside_a_project_says_how_to_start_one(tmp_path, cli):
    result = cli("status", cwd=tmp_path)

    assert result.exit_code == 1
    assert "no conveyor.yaml" in result.stderr
    assert "conveyor init" in result.stderr


def test_corrupted_object_is_detected_never_restored_and_the_stage_reruns(
    make_project, py_cmd, cli
):
    root = project_with(
        make_project,
        {"s": {"cmd": py_cmd("open('m.bin', 'w').write('good model')"), "outs": ["m.bin"]}},
    )
    assert cli("run", cwd=root).exit_code == 0
    digest = read_lock(root)["s"].outs["m.bin"]["digest"]
    obj = root / ".conveyor/store/objects" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    obj.write_text("evil model")
    (root / "m.bin").unlink()

    result = cli("run", cwd=root)

    assert result.exit_code == 0, result.output
    assert "does not match its digest" in result.output
    assert (root / "m.bin").read_text() == "good model"
    assert obj.read_text() == "good model"  # the damaged object was replaced


def test_second_concurrent_run_is_refused_and_changes_nothing(make_project, cli):
    root = project_with(make_project, {"s": {"cmd": "echo hi > o.txt", "outs": ["o.txt"]}})

    with RunLock(root / ".conveyor"):
        result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "another `conveyor run` holds the lock" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert not (root / "o.txt").exists()
    assert cli("run", cwd=root).exit_code == 0  # the lock is released with its holder


def test_ctrl_c_ends_the_stage_marks_the_run_interrupted_and_the_next_run_works(
    make_project, py_cmd
):
    slow = py_cmd("""
        import os, time, yaml
        seconds = yaml.safe_load(open('params.yaml'))['sleep']
        open('child.pid', 'w').write(str(os.getpid()))
        time.sleep(seconds)
        open('out.txt', 'w').write('done')
    """)
    root = project_with(
        make_project,
        {
            "quick": {"cmd": "echo q > q.txt", "outs": ["q.txt"]},
            "slow": {"cmd": slow, "deps": ["q.txt"], "params": ["sleep"], "outs": ["out.txt"]},
        },
        **{"params.yaml": "sleep: 60\n"},
    )
    proc = subprocess.Popen(
        [*CONVEYOR, "run"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    pid_file = root / "child.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    child = int(pid_file.read_text())

    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)

    assert proc.returncode == 130
    assert "interrupted" in err
    assert not _alive(child)
    runs = json.loads(
        subprocess.run(
            [*CONVEYOR, "runs", "--json"], cwd=root, check=True, capture_output=True, text=True
        ).stdout
    )
    assert runs[0]["status"] == "interrupted"
    assert {s["stage"]: s["status"] for s in runs[0]["stages"]} == {
        "quick": "ran",
        "slow": "interrupted",
    }
    assert set(read_lock(root)) == {"quick"}
    (root / "params.yaml").write_text("sleep: 0\n")
    again = subprocess.run([*CONVEYOR, "run"], cwd=root, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert (root / "out.txt").read_text() == "done"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone once its parent reaped it
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_a_failure_while_a_sibling_runs_lets_the_sibling_finish_and_be_recorded(make_project, cli):
    root = project_with(
        make_project,
        {
            "a": {"cmd": "exit 1", "outs": ["a.txt"]},
            "b": {"cmd": "sleep 1; echo b > b.txt", "outs": ["b.txt"]},
            "c": {"cmd": "cat a.txt b.txt > c.txt", "deps": ["a.txt", "b.txt"], "outs": ["c.txt"]},
        },
    )

    result = cli("run", "--jobs", "2", cwd=root)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "stage 'a' failed" in result.output
    assert (root / "b.txt").read_text() == "b\n"
    assert not (root / "c.txt").exists()
    assert set(read_lock(root)) == {"b"}
    runs = json.loads(cli("runs", "--json", cwd=root).stdout)
    stages = {s["stage"]: s for s in runs[0]["stages"]}
    assert runs[0]["status"] == "failed"
    assert {name: s["status"] for name, s in stages.items()} == {
        "a": "failed",
        "b": "ran",
        "c": "skipped",
    }
    assert "upstream failed: a" in (stages["c"]["message"] or "")


def test_a_diamond_whose_one_branch_fails_keeps_the_other_branch(make_project, cli):
    root = project_with(
        make_project,
        {
            "prepare": {"cmd": "echo p > p.txt", "outs": ["p.txt"]},
            "left": {"cmd": "exit 2", "deps": ["p.txt"], "outs": ["l.txt"]},
            "right": {"cmd": "sleep 1; cp p.txt r.txt", "deps": ["p.txt"], "outs": ["r.txt"]},
            "join": {"cmd": "cat l.txt r.txt > j", "deps": ["l.txt", "r.txt"], "outs": ["j"]},
        },
    )

    result = cli("run", "--jobs", "2", cwd=root)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (root / "r.txt").read_text() == "p\n"
    assert set(read_lock(root)) == {"prepare", "right"}
    runs = json.loads(cli("runs", "--json", cwd=root).stdout)
    assert {s["stage"]: s["status"] for s in runs[0]["stages"]} == {
        "prepare": "ran",
        "left": "failed",
        "right": "ran",
        "join": "skipped",
    }


def test_an_out_behind_a_symlink_leaving_the_project_is_refused_before_any_delete(
    make_project, cli, tmp_path
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.bin").write_text("someone else's file")
    root = project_with(
        make_project, {"train": {"cmd": "echo new > data/model.bin", "outs": ["data/model.bin"]}}
    )
    (root / "data").symlink_to(outside)

    result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "stage 'train'" in result.stderr
    assert "data/model.bin" in result.stderr
    assert str(outside / "model.bin") in result.stderr
    assert (outside / "model.bin").read_text() == "someone else's file"


def test_logs_of_a_failed_stage_show_stdout_and_the_traceback_in_order(make_project, py_cmd, cli):
    stage = py_cmd("""
        import sys
        print('loading data')
        print('warning: 3 rows dropped', file=sys.stderr)
        print('training')
        raise RuntimeError('the model diverged')
    """)
    root = project_with(make_project, {"train": {"cmd": stage}})
    failed = cli("run", cwd=root)
    run_id = json.loads(cli("runs", "--json", cwd=root).stdout)[0]["id"]

    both = cli("logs", run_id, "train", cwd=root)

    assert failed.exit_code == 1
    assert f"conveyor logs {run_id} train" in failed.stdout
    assert both.exit_code == 0, both.stderr
    lines = both.stdout.splitlines()
    assert lines[:4] == [
        "loading data",
        "warning: 3 rows dropped",
        "training",
        "Traceback (most recent call last):",
    ]
    assert lines[-1] == "RuntimeError: the model diverged"
