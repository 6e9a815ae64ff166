"""`conveyor serve` as a real process on a real socket: one worker and two, stopped by SIGTERM
the way `docker stop` and Kubernetes stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.serving.gateway_process import serving

from conveyor.context import Context
from conveyor.monitoring.labels import read_labels
from conveyor.monitoring.predictions import read_predictions

pytestmark = pytest.mark.slow


def _predict(url: str, served, prefix: str, count: int) -> None:
    for i in range(count):
        row = served.features.iloc[i].tolist()
        # a new connection each time, so that with two workers both get some
        answer = httpx.post(
            f"{url}/v1/models/cancer:predict",
            json={"instances": [row]},
            headers={"X-Request-ID": f"{prefix}-{i}"},
        )
        assert answer.status_code == 200, answer.text
        # other tests leave a routing table for cancer in this project, which serve follows
        model = served.models[int(answer.headers["X-Conveyor-Model-Version"])]
        assert answer.json()["predictions"] == model.predict(served.features.iloc[[i]]).tolist()


def _logged(root: Path, prefix: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(root)
    rows = read_predictions(Context.resolve().artifacts_url, "cancer")
    return int(rows["request_id"].str.startswith(f"{prefix}-").sum())


def _send_labels(url: str, prefix: str, count: int) -> None:
    labels = [{"request_id": f"{prefix}-{i}", "label": i % 2} for i in range(count)]
    answer = httpx.post(f"{url}/feedback", json=labels)
    assert answer.status_code == 202, answer.text


def _labelled(root: Path, prefix: str) -> int:
    labels = read_labels(Context.resolve(start=root).artifacts_url)
    return int(labels["request_id"].str.startswith(f"{prefix}-").sum())


def _requests_counted(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "conveyor_requests_total" and sample.labels.get("status") == "200"
        and sample.labels.get("route") == "/v1/models/{model}:predict"
    )  # fmt: skip


def test_sigterm_writes_the_prediction_log_before_exiting(served, monkeypatch) -> None:
    with serving(served.root, "--model", "cancer@champion", "--log-window", "3600") as (url, proc):
        _predict(url, served, "sigterm-one", 12)
        _send_labels(url, "sigterm-one", 5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert _logged(served.root, "sigterm-one", monkeypatch) == 12
    assert _labelled(served.root, "sigterm-one") == 5  # the labels log is written too


def test_two_workers_share_the_port_merge_metrics_and_both_write_their_log(
    served, monkeypatch
) -> None:
    args = ("--model", "cancer@champion", "--workers", "2", "--log-window", "3600")
    with serving(served.root, *args) as (url, proc):
        _predict(url, served, "two-workers", 30)
        assert _requests_counted(url) == 30  # whichever worker answers the scrape
        _send_labels(url, "two-workers", 3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert _logged(served.root, "two-workers", monkeypatch) == 30
    assert _labelled(served.root, "two-workers") == 3


def _worker_series(url: str) -> dict[str, dict[str, float]]:
    """The per-worker gauges of one scrape: metric name -> {worker pid: value}."""
    text = httpx.get(f"{url}/metrics").text
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("conveyor_worker_"):
                found.setdefault(sample.name, {})[sample.labels["worker"]] = sample.value
    return found


def _workers(proc: subprocess.Popen[bytes]) -> set[str]:
    """The pids of uvicorn's workers (multiprocessing's resource tracker is a child too)."""
    children = psutil.Process(proc.pid).children()
    return {str(child.pid) for child in children if "spawn_main" in " ".join(child.cmdline())}


def _scrape_until(url: str, done, seconds: float = 30) -> dict[str, dict[str, float]]:
    deadline = time.monotonic() + seconds
    while True:
        found = _worker_series(url)
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_each_worker_shows_its_cpu_and_memory_and_a_killed_one_goes(served) -> None:
    args = ("--model", "cancer@champion", "--workers", "2", "--no-log-predictions")
    with serving(served.root, *args) as (url, proc):
        workers = _workers(proc)
        assert len(workers) == 2
        names = ("cpu_seconds_total", "resident_memory_bytes", "open_fds")
        found = _scrape_until(url, lambda f: len(f.get("conveyor_worker_open_fds", {})) == 2)
        for name in names:
            series = found[f"conveyor_worker_{name}"]
            assert set(series) == workers, (name, series)  # each one's own, whoever answers
            assert all(value > 0 for value in series.values())
        memory = found["conveyor_worker_resident_memory_bytes"]
        for pid, rss in memory.items():  # sampled at most 5 s ago, a few MB apart at most
            assert abs(rss - psutil.Process(int(pid)).memory_info().rss) < 64 * 2**20

        killed = sorted(workers)[0]
        os.kill(int(killed), signal.SIGKILL)  # uvicorn starts another in its place
        found = _scrape_until(
            url,
            lambda f: (
                killed not in f["conveyor_worker_resident_memory_bytes"]
                and len(f["conveyor_worker_resident_memory_bytes"]) == 2
            ),
        )
        now = _workers(proc)
        assert killed not in now
        for name in names:
            assert set(found[f"conveyor_worker_{name}"]) == now, (name, found)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _traffic(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    from conveyor import tracking
    from conveyor.cli.main import main

    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(root)
    assert main(["traffic", *args]) == 0
    tracking.close_stores()


def test_a_traffic_change_is_one_line_in_the_server_log(served, monkeypatch) -> None:
    _traffic(served.root, monkeypatch, "set", "cancer", "1=100")
    with serving(served.root) as (url, proc):
        _traffic(served.root, monkeypatch, "set", "cancer", "1=50", "2=50")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the watcher polls every 2 s, then loads and warms
            body = {"instances": [served.features.iloc[0].tolist()]}
            forced = {"X-Conveyor-Version": "2"}
            answer = httpx.post(f"{url}/v1/models/cancer:predict", json=body, headers=forced)
            if answer.status_code == 200:
                break
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.stdout is not None
        output = proc.stdout.read().decode()
    swaps = [line for line in output.splitlines() if "routing cancer: 1=100% ->" in line]
    assert len(swaps) == 1, output
    assert "-> 1=50% 2=50%" in swaps[0]
    assert swaps[0].startswith("INFO")


def test_a_port_in_use_is_an_error_with_a_hint(served) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        done = subprocess.run(
            [sys.executable, "-m", "conveyor", "serve", "-m", "cancer@champion", "-p", str(port)],
            cwd=served.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}: another process is using that port" in (
        done.stderr
    )
    assert "hint: stop what is listening there" in done.stderr
    assert "Traceback" not in done.stderr
