"""`conveyor serve` as a real process on a free port: the one helper the process tests share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (free when asked; taken back at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    root: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``conveyor serve ARGS`` in ``root`` on a free port, ready; killed if the test fails.
    ``env``: CONVEYOR_ settings for it (none of the test's own are passed on). Its output
    is ``proc.stdout``, or the file ``log`` for a long run: a pipe nobody reads while the
    server logs fills up and stalls it."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "PROMETHEUS"))},
        **(env or {}),
    }
    sink = None if log is None else log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "serve", "--port", str(port), *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE if sink is None else sink,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"conveyor serve {' '.join(args)} was not ready in 60 s")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if sink is not None:
            sink.close()
