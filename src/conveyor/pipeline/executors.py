"""Executors run one stage's command somewhere and report how it went.

The runner only knows :class:`Executor`: ``run(job)`` blocks until the command ends and
returns a :class:`JobResult`; ``cancel_all()`` ends every command still running. The local
executor runs each command as a child process in its own process group (so Ctrl-C can end
the command and everything it started), tied to the runner so that it dies with it (see
``children.py``). A Ray executor will implement the same two methods
by submitting the job as a Ray task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from conveyor.pipeline.children import RunningStages

TERMINATE_GRACE_S = 5.0


@dataclass(frozen=True)
class Job:
    """One command to run."""

    stage: str
    cmd: str
    cwd: Path
    env: dict[str, str]
    log_path: Path  # stdout and stderr, both, in the order written (see stagelog.py)


@dataclass(frozen=True)
class JobResult:
    """How a command ended."""

    exit_code: int
    duration_s: float
    cancelled: bool = False


class Executor(Protocol):
    """Runs stage commands; must be safe to call ``run`` from several threads at once."""

    def run(self, job: Job) -> JobResult: ...

    def cancel_all(self) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Runs each command as a local child process (``/bin/sh -c``)."""

    def __init__(self, record: RunningStages | None = None) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._cancelled = False
        self._record = record

    def run(self, job: Job) -> JobResult:
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(job.log_path, "wb") as log:
            with self._lock:
                if self._cancelled:
                    return JobResult(exit_code=-signal.SIGINT, duration_s=0.0, cancelled=True)
                proc = subprocess.Popen(
                    job.cmd,
                    shell=True,
                    cwd=job.cwd,
                    env=with_conveyor_on_path(job.env),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
                self._running[proc.pid] = proc
                if self._record is not None:
                    self._record.add(proc.pid, job.stage)
            try:
                if self._record is not None:
                    _wait_unreaped(proc.pid)
                    self._record.remove(proc.pid)
                code = proc.wait()
            finally:
                with self._lock:
                    self._running.pop(proc.pid, None)
        return JobResult(code, time.monotonic() - started, cancelled=self._cancelled)

    def close(self) -> None:
        """Release what the executor holds once every command has ended."""
        if self._record is not None:
            self._record.close()

    def cancel_all(self) -> None:
        """Send SIGTERM to every running command's process group, then SIGKILL stragglers."""
        with self._lock:
            self._cancelled = True
            procs = list(self._running.values())
        for proc in procs:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + TERMINATE_GRACE_S
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
        for proc in procs:
            _signal_group(proc.pid, signal.SIGKILL)  # grandchildren that ignored SIGTERM


def with_conveyor_on_path(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the directory of this interpreter (where ``conveyor`` is installed)
    appended to ``PATH``, so that stages such as ``conveyor validate NAME`` find it.

    Appended, not prepended: the user's own ``python`` and tools still come first.
    """
    here = os.path.dirname(sys.executable)
    path = env.get("PATH", os.defpath)
    if not here or here in path.split(os.pathsep):
        return env
    return {**env, "PATH": f"{path}{os.pathsep}{here}" if path else here}


def _wait_unreaped(pid: int) -> None:
    """Wait for ``pid`` to end without reaping it: its number stays taken meanwhile."""
    if hasattr(os, "waitid"):
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
