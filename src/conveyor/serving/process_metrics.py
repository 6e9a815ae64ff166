"""CPU time, resident memory and open files of each gateway worker, for ``/metrics``.

prometheus_client's own process collector describes only the process that answers a scrape,
and is off in multiprocess mode, where one worker answers for all. So every worker publishes
its own values as gauges labelled ``worker`` (its pid), each worker the only writer of its
label: in multiprocess mode the merged scrape shows one series per worker, whichever worker
answers it::

    gauges = WorkerGauges(registry)
    gauges.sample()  # at each scrape; other workers sample every SAMPLE_INTERVAL_S
    gauges.start()  # in a worker of several: a daemon thread sampling in the background

The gauges are ``livemax``: a worker's files are dropped once it is marked dead, and since
uvicorn marks nobody, :func:`forget_dead_workers` does at each scrape, for every pid with
files there that no longer runs. Counters are not ``live`` in prometheus_client, so CPU time,
a counter by nature, is a gauge named ``conveyor_worker_cpu_seconds_total`` (only ever rising
for one pid; ``rate()`` works on it).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.multiprocess import mark_process_dead

SAMPLE_INTERVAL_S = 5.0
_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


class WorkerGauges:
    """This process's CPU seconds, resident memory and open file descriptors, by ``worker``.

    >>> from prometheus_client import generate_latest
    >>> registry = CollectorRegistry()
    >>> gauges = WorkerGauges(registry)
    >>> gauges.sample()
    >>> f'conveyor_worker_open_fds{{worker="{os.getpid()}"}}' in generate_latest(registry).decode()
    True
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.cpu = Gauge(
            "conveyor_worker_cpu_seconds_total",
            "CPU time (user + system) the gateway worker used since it started.",
            ["worker"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.memory = Gauge(
            "conveyor_worker_resident_memory_bytes",
            "Resident memory (RSS) of the gateway worker.",
            ["worker"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.fds = Gauge(
            "conveyor_worker_open_fds",
            "Open file descriptors of the gateway worker (sockets included).",
            ["worker"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._process: psutil.Process | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read this process's figures (under 0.1 ms on Linux) into the gauges."""
        process = self._current()
        worker = str(process.pid)
        with process.oneshot():
            times = process.cpu_times()
            self.cpu.labels(worker).set(times.user + times.system)
            self.memory.labels(worker).set(process.memory_info().rss)
            if hasattr(process, "num_fds"):  # not on Windows
                self.fds.labels(worker).set(process.num_fds())

    def start(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        """Sample now, then every ``interval_s`` in a daemon thread, until :meth:`stop`."""
        self.sample()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(interval_s,), name="conveyor-worker-gauges", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """End the sampling thread (at the server's shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.sample()

    def _current(self) -> psutil.Process:
        """This process, made again after a fork (a new pid is a new worker)."""
        if self._process is None or self._process.pid != os.getpid():
            self._process = psutil.Process()
        return self._process


def forget_dead_workers(directory: str | os.PathLike[str]) -> list[int]:
    """Remove the ``live*`` gauge files of every pid in ``directory`` no longer running (a
    zombie counts as dead); the pids removed. Their counters and histograms stay: they are
    sums that must not go down."""
    dead = []
    for path in Path(directory).iterdir():
        found = _LIVE_FILE.fullmatch(path.name)
        if found is not None and not _running(int(found.group(1))):
            dead.append(int(found.group(1)))
    for pid in sorted(set(dead)):
        with contextlib.suppress(FileNotFoundError):  # another scrape got there first
            mark_process_dead(pid, os.fspath(directory))  # type: ignore[no-untyped-call]
    return sorted(set(dead))


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process now holds the pid: not our worker
        return False
