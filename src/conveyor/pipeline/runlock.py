"""The project's run lock: one ``conveyor run`` at a time per project."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from conveyor.errors import LockHeld


class RunLock:
    """An exclusive ``flock`` on ``.conveyor/run.lock``, released even on a crash."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / "run.lock"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockHeld(
                f"another `conveyor run` holds the lock on this project ({holder})",
                hint="wait for it to finish, or stop it; nothing was changed",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
