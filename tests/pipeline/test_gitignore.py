"""`conveyor run` keeps declared outs out of git, as DVC does: a `.gitignore` beside each."""

from __future__ import annotations

import subprocess

import yaml

from conveyor.pipeline.runner import RunOptions, run_pipeline
from conveyor.project import Project
from conveyor.settings import Settings

STAGES = {
    "train": {
        "cmd": "mkdir -p models data && echo m > models/model.bin && echo d > data/x",
        "outs": ["models/model.bin", "data/x"],
    },
}


class Warnings:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def started(self, run_id, stages):
        pass

    def action(self, stage, action):
        pass

    def finished(self, outcome):
        pass

    def warning(self, message: str) -> None:
        self.messages.append(message)


def git_project(make_project, **config) -> object:
    root = make_project({"conveyor.yaml": yaml.safe_dump({"stages": STAGES, **config})})
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def ignored(root, path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=root).returncode == 0


def test_outs_are_ignored_beside_each_once_and_the_user_is_told(make_project):
    root = git_project(make_project)
    (root / "models").mkdir()
    (root / "models/.gitignore").write_text("/notes.txt\n")
    said = Warnings()

    run_pipeline(Project(root), Settings(), RunOptions(), said)
    run_pipeline(Project(root), Settings(), RunOptions(force=True), said)

    assert ignored(root, "models/model.bin")
    assert ignored(root, "data/x")
    assert (root / "models/.gitignore").read_text() == "/notes.txt\n/model.bin\n"
    assert (root / "data/.gitignore").read_text() == "/x\n"
    told = [m for m in said.messages if ".gitignore" in m]
    assert len(told) == 1
    assert "models/model.bin" in told[0]


def test_an_out_already_tracked_is_not_ignored_but_warned_about(make_project):
    root = git_project(make_project)
    (root / "data").mkdir()
    (root / "data/x").write_text("old")
    subprocess.run(["git", "add", "data/x"], cwd=root, check=True)
    said = Warnings()

    run_pipeline(Project(root), Settings(), RunOptions(), said)

    assert not (root / "data/.gitignore").exists()
    assert any("data/x" in m and "git rm --cached" in m for m in said.messages)
    assert ignored(root, "models/model.bin")


def test_opting_out_leaves_gitignore_alone(make_project):
    root = git_project(make_project, gitignore_outs=False)

    run_pipeline(Project(root), Settings(), RunOptions())

    assert not (root / "models/.gitignore").exists()
    assert not ignored(root, "models/model.bin")
