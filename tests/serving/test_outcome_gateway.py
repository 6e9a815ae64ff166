"""A real `conveyor serve` counts every request it routed to a version into outcome windows
in the store, and writes them all when stopped by SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conveyor.context import Context
from conveyor.monitoring.outcomes import merge, outcomes, quantile
from conveyor.settings import Settings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "PROMETHEUS"))}
    args = ["--model", "cancer/2", "--port", str(port), "--no-log-predictions"]
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor", "serve", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail("conveyor serve was not ready in 60 s")


def test_good_and_bad_requests_are_in_the_store_after_sigterm(served, tmp_path) -> None:
    root = tmp_path / "project"  # a copy: no other test's gateway writes windows here
    shutil.copytree(served.root, root)
    good, bad, unrouted = 25, 7, 3
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(root, port)
    try:
        _wait_ready(url, proc)
        began = datetime.now(UTC)
        # other tests may leave a routing table for cancer in the project: force version 2
        with httpx.Client(base_url=url, headers={"X-Conveyor-Version": "2"}) as http:
            for i in range(good):
                row = served.features.iloc[i].tolist()
                answer = http.post("/v1/models/cancer:predict", json={"instances": [row]})
                assert answer.status_code == 200, answer.text
            for _ in range(bad):  # one feature where the signature has 30: refused, 422
                answer = http.post("/v1/models/cancer:predict", json={"instances": [[1.0]]})
                assert answer.status_code == 422
            for _ in range(unrouted):  # no version was chosen for these: not counted
                answer = http.post(
                    "/v1/models/cancer:predict",
                    content=b"{not json",
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status_code == 400
                assert http.get("/v2/health/ready").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0 or proc.returncode == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()

    ctx = Context(Settings(), root, base=root)
    try:
        since = began - timedelta(seconds=20)
        windows = outcomes(ctx, "cancer", since, datetime.now(UTC) + timedelta(seconds=20))
    finally:
        ctx.close()
    assert {w.version for w in windows} == {2}
    total = merge(windows)
    assert total.requests == good + bad
    assert (total.client_errors, total.model_errors, total.timeouts) == (bad, 0, 0)
    expected = served.models[2].predict(served.features.head(good))  # type: ignore[attr-defined]
    assert total.labels == {
        str(label): int((expected == label).sum()) for label in set(expected.tolist())
    }
    assert sum(total.latency) == good + bad
    p50 = quantile(total, 0.5)
    assert p50 is not None
    assert 0 < p50 < 1.0
