"""Temporary files that killed processes left are removed by the next run, and never
count as part of a dep or an out."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import yaml

from conveyor.pipeline.lock import read_lock
from conveyor.pipeline.runner import RunOptions, run_pipeline
from conveyor.project import Project
from conveyor.settings import Settings


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_next_run_removes_temporaries_a_killed_run_left_beside_outs(make_project):
    config = {
        "stages": {
            "make": {"cmd": "mkdir -p data/dir && echo x > data/dir/f", "outs": ["data/dir"]},
            "one": {"cmd": "cp data/dir/f one.txt", "deps": ["data/dir"], "outs": ["one.txt"]},
        }
    }
    root = make_project({"conveyor.yaml": yaml.safe_dump(config)})
    run_pipeline(Project(root), Settings(), RunOptions())
    staging = root / "data/.dir.conveyor-0123abcd"  # a directory restore, killed midway
    staging.mkdir()
    (staging / "f").write_text("half")
    (root / ".one.txt.conveyor-89abcdef").write_text("half a file")
    (root / "one.txt").unlink()

    run_pipeline(Project(root), Settings(), RunOptions())

    assert not staging.exists()
    assert not (root / ".one.txt.conveyor-89abcdef").exists()
    assert (root / "one.txt").read_text() == "x\n"


def test_temporaries_inside_a_directory_are_not_part_of_its_digest(make_project):
    config = {"stages": {"s": {"cmd": "cp data/a out.txt", "deps": ["data"], "outs": ["out.txt"]}}}
    root = make_project({"conveyor.yaml": yaml.safe_dump(config), "data/a": "a"})
    run_pipeline(Project(root), Settings(), RunOptions())
    before = read_lock(root)["s"].deps["data"]["digest"]
    (root / "data/.b.conveyor-0123abcd").write_text("left by a killed restore")

    summary = run_pipeline(Project(root), Settings(), RunOptions())

    assert summary.status == "up-to-date"
    from conveyor.hashing import Hasher

    assert Hasher(root, None).hash_path("data").digest == before


def test_the_next_run_removes_store_temporaries_of_dead_writers_only(make_project):
    root = make_project({"conveyor.yaml": yaml.safe_dump({"stages": {"s": {"cmd": "true"}}})})
    tmp = root / ".conveyor/store/tmp"
    tmp.mkdir(parents=True)
    host = socket.gethostname()
    dead = tmp / f"{'a' * 32}.{dead_pid()}.{host}"
    live = tmp / f"{'b' * 32}.{os.getpid()}.{host}"  # being written by a live process
    elsewhere = tmp / f"{'c' * 32}.{dead_pid()}.another-host"
    old = tmp / ("d" * 32)  # written before temporaries were named after their writer
    for path in (dead, live, elsewhere, old):
        path.write_bytes(b"partial object")
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))

    run_pipeline(Project(root), Settings(), RunOptions())

    assert sorted(p.name for p in tmp.iterdir()) == sorted([live.name, elsewhere.name])
