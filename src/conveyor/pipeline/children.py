"""Stage processes belong to the run that started them, even when the run is killed.

Two ties, because neither is enough alone (see docs/architecture.md, "Stage processes
belong to the run"):

- a guard process (``GUARD``), started with the run's first command, kills every running
  command's process group the moment the runner dies, even by ``kill -9``;
- every running command's process group is recorded in ``.conveyor/stages.running`` (pid
  and start time). The next run, holding the run lock, ends what is left of those groups
  before it looks at the workspace. The start time tells a recorded process from an
  unrelated one that got the same pid later.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

RECORD = "stages.running"
END_WAIT_S = 2.0

# The guard: a small process that reads "+PGID"/"-PGID" lines from the runner through a
# pipe. The kernel closes the pipe when the runner dies, however it dies; the guard then
# kills every group still listed. Its own session keeps it out of Ctrl-C's reach.
GUARD = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


def start_time(pid: int) -> str | None:
    """When process ``pid`` started (opaque, comparable for equality), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the name
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (macOS): ask ps
        import subprocess

        result = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True
        )
        return result.stdout.strip() or None


class RunningStages:
    """This run's stage process groups: told to the guard, and recorded on disk."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RECORD
        self._lock = threading.Lock()
        self._entries: dict[int, str] = {}
        self._guard: subprocess.Popen[bytes] | None = None

    def add(self, pgid: int, stage: str) -> None:
        started = start_time(pgid) or "?"
        with self._lock:
            self._tell_guard(f"+{pgid}")
            self._entries[pgid] = f"{pgid} {started} {stage}"
            self._write()

    def remove(self, pgid: int) -> None:
        """Call it before the group's leader is reaped, so that its pid is not reused yet."""
        with self._lock:
            self._tell_guard(f"-{pgid}")
            self._entries.pop(pgid, None)
            self._write()

    def close(self) -> None:
        """Let the guard go (every command has ended)."""
        with self._lock:
            guard, self._guard = self._guard, None
        if guard is not None and guard.stdin is not None:
            guard.stdin.close()
            guard.wait()

    def _tell_guard(self, line: str) -> None:
        if self._guard is None:
            import subprocess

            self._guard = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", GUARD],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        assert self._guard.stdin is not None
        try:
            self._guard.stdin.write(line.encode() + b"\n")
            self._guard.stdin.flush()
        except BrokenPipeError:
            pass  # the guard was killed: the record on disk still covers the next run

    def _write(self) -> None:
        if not self._entries:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_name(f"{RECORD}.{os.getpid()}")
        tmp.write_text("".join(line + "\n" for line in self._entries.values()))
        os.replace(tmp, self.path)


def left_behind(state_dir: Path) -> bool:
    """Whether a run recorded stage processes and has not cleared the record (yet)."""
    return (state_dir / RECORD).exists()


def end_left_behind(state_dir: Path) -> list[str]:
    """End the process groups a killed run left running; the stages they belonged to.

    Call it only while holding the run lock: then no live run owns the recorded groups.
    """
    path = state_dir / RECORD
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    ended = []
    for line in lines:
        pid_text, started, stage = [*line.split(" ", 2), "", ""][:3]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        now = start_time(pid)
        # Another process with this pid: ours and its whole group are gone (a pid is not
        # reused while a process group of that number still exists).
        if now is not None and now != started:
            continue
        if _end_group(pid):
            ended.append(stage)
    path.unlink(missing_ok=True)
    return ended


def _end_group(pgid: int) -> bool:
    if not _group_alive(pgid):
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + END_WAIT_S
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            break
        time.sleep(0.01)
    return True


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies waiting to be reaped do not)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False
