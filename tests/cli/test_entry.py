"""The executable's quick answers agree with the full CLI, and step aside otherwise."""

from __future__ import annotations

import subprocess
import sys

import yaml

from conveyor.cli.entry import UP_TO_DATE_RUN, quick_answer
from conveyor.cli.main import main


def project(make_project):
    config = {
        "stages": {"s": {"cmd": "cp in.txt out.txt", "deps": ["in.txt"], "outs": ["out.txt"]}}
    }
    return make_project({"conveyor.yaml": yaml.safe_dump(config), "in.txt": "a"})


def test_status_is_answered_exactly_as_the_full_cli_answers(make_project, monkeypatch, capsys):
    root = project(make_project)
    monkeypatch.chdir(root)
    for _ in range(2):  # stale, then up to date
        assert quick_answer(["status"]) == 0
        quick = capsys.readouterr().out
        assert main(["status"]) == 0
        assert capsys.readouterr().out == quick
        main(["run"])
        capsys.readouterr()


def test_run_is_answered_only_when_there_is_nothing_to_do(make_project, monkeypatch, capsys):
    root = project(make_project)
    monkeypatch.chdir(root)

    assert quick_answer(["run"]) is None  # stale: the full CLI runs it
    main(["run"])
    capsys.readouterr()
    assert quick_answer(["run"]) == 0
    assert capsys.readouterr().out == UP_TO_DATE_RUN + "\n"
    assert quick_answer(["run", "--force"]) is None
    assert quick_answer(["run", "s"]) == 0
    assert quick_answer(["runs"]) is None


def test_run_is_not_answered_while_a_killed_run_left_stage_processes(
    make_project, monkeypatch, capsys
):
    # A stage a killed run left running may still rename its out over the workspace: only
    # the full runner, under the run lock, ends it and then says whether anything is stale.
    root = project(make_project)
    monkeypatch.chdir(root)
    main(["run"])
    capsys.readouterr()
    (root / ".conveyor" / "stages.running").write_text("")

    assert quick_answer(["run"]) is None
    assert quick_answer(["status"]) == 0  # status reads only; it may answer


def test_errors_are_left_to_the_full_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no conveyor.yaml here

    assert quick_answer(["status"]) is None


def test_the_module_runs_as_the_command(make_project):
    root = project(make_project)

    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "status"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout == "s: stale\n    never ran successfully\n"


def test_help_loads_neither_the_gateway_nor_the_stores(make_project):
    # `conveyor --help` is typed often; it should not pay for asyncio (the gateway's limits)
    # or the project, hashing and database modules (closing contexts nobody built).
    root = project(make_project)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "conveyor", "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not imported & {"asyncio", "sqlite3", "sqlalchemy", "blake3", "conveyor.hashing"}
