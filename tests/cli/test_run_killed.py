"""`conveyor run` killed with SIGKILL: its stage processes die with it, nothing they would
have written lands later, and the next run cleans up and works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conveyor.hashing import hash_file
from conveyor.pipeline.lock import read_lock

CONVEYOR = [sys.executable, "-m", "conveyor"]

# Sleeps for the seconds in delay.txt, then renames its out into place: a stage process
# that outlived its run would put this stale file over the next run's out.
SLOW_WRITER = """
import os, time
open('child.pid', 'w').write(str(os.getpid()))
delay = float(open('delay.txt').read())
time.sleep(delay)
open('.out.partial', 'w').write(f'made with delay {delay}')
os.replace('.out.partial', 'out.txt')
"""


def slow_project(make_project, py_cmd, suffix: str = "") -> Path:
    stage = {"cmd": py_cmd(SLOW_WRITER) + suffix, "deps": ["delay.txt"], "outs": ["out.txt"]}
    config = {"stages": {"slow": stage}}
    return make_project({"conveyor.yaml": yaml.safe_dump(config), "delay.txt": "4"})


def start_and_kill(root: Path, guard_too: bool = False) -> int:
    """Start `conveyor run`, SIGKILL it once the stage runs; the stage's pid."""
    proc = subprocess.Popen(
        [*CONVEYOR, "run"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pid_file = root / "child.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    if guard_too:
        os.kill(guard_of(proc.pid), signal.SIGKILL)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return int(pid_file.read_text())


def guard_of(runner: int) -> int:
    """The guard process the runner started (the Python child that is not a stage)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if ppid == str(runner) and b"-I" in cmdline and b"-S" in cmdline:
            return int(entry.name)
    raise AssertionError("the runner started no guard process")


def run_again(root: Path) -> subprocess.CompletedProcess[str]:
    (root / "delay.txt").write_text("0")
    return subprocess.run([*CONVEYOR, "run"], cwd=root, capture_output=True, text=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")  # a zombie answers kill(0) until it is reaped
    return status.exists() and "zombie" not in status.read_text()


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def assert_next_run_owns_the_workspace(root: Path, again: subprocess.CompletedProcess[str]):
    assert again.returncode == 0, again.stderr
    time.sleep(4.5)  # past the moment the killed run's stage would have renamed its out
    assert (root / "out.txt").read_text() == "made with delay 0.0"
    locked = read_lock(root)["slow"].outs["out.txt"]["digest"]
    assert locked == hash_file(root / "out.txt")


@pytest.mark.slow
def test_killing_the_runner_kills_its_stage_at_once(make_project, py_cmd):
    # After `; true` the shell stays as the stage's process and the writer is its child:
    # the whole process group must go, not only the process the runner started.
    root = slow_project(make_project, py_cmd, suffix="; true")

    child = start_and_kill(root)

    assert gone_within(child, 2.0)
    assert_next_run_owns_the_workspace(root, run_again(root))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the guard through /proc")
def test_the_next_run_ends_what_a_killed_run_left_running(make_project, py_cmd):
    # The guard killed too (say, by an OOM killer): the record of running stages remains.
    root = slow_project(make_project, py_cmd)
    child = start_and_kill(root, guard_too=True)
    assert alive(child)

    again = run_again(root)

    assert not alive(child)
    assert "ended 1 process group" in again.stdout + again.stderr
    assert_next_run_owns_the_workspace(root, again)
