"""What both tracking drivers share: the workload's sizes, the synthetic data, the report.

Standard library only: it is imported by the MLflow driver (run by MLflow's virtualenv),
by the Conveyor driver (run by the repository's ``.venv``) and by the benchmark itself, so
the sizes printed in RESULTS.md are the ones the drivers used.

A driver is started as ``python DRIVER SCENARIO DIR [ARG]``; it does its untimed set-up,
times the operation with :func:`time.perf_counter` inside the process, and prints one JSON
object as its last line of stdout (:func:`emit`), whose ``seconds`` is the figure.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

METRIC_CALLS = 10_000  # scenario 1: one logging call per value
BATCHES = 10  # scenario 2: batches ...
BATCH_SIZE = 1_000  # ... of this many values (distinct keys, one step per batch)
RUNS = 100  # scenario 3: runs, each with ...
PARAMS_PER_RUN = 10  # ... this many params and ...
METRICS_PER_RUN = 10  # ... this many metrics
SEARCH_RUNS = 100_000  # scenario 4: runs seeded (10 params, 10 metrics each) ...
SEARCH_RUNS_SMALL = 10_000  # ... and a smaller store, where MLflow's search takes seconds
SEARCH_WHERE = "metrics.m0 > 0.5"
SEARCH_ORDER = "metrics.m1 DESC"
SEARCH_LIMIT = 20
SEARCH_REPEAT = 1  # searches after the first one, in the same process (by default)
VERSIONS = 50  # scenario 5: versions registered of one model
MODEL_NAME = "bench-model"

T0_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC, the first seeded run's start


@dataclass(frozen=True)
class SyntheticRun:
    """One seeded run; the same sequence is written into both tools' databases."""

    id: str  # 32 hex digits: an MLflow run_uuid, and a valid Conveyor run id
    started_ms: int
    failed: bool
    params: dict[str, str]
    metrics: dict[str, float]


def synthetic_runs(n: int, seed: int = 0) -> Iterator[SyntheticRun]:
    """``n`` runs with params ``p0..p9`` (digits as text) and metrics ``m0..m9`` in [0, 1)."""
    rng = random.Random(seed)
    for index in range(n):
        yield SyntheticRun(
            id=f"{rng.getrandbits(128):032x}",
            started_ms=T0_MS + index * 1000,
            failed=rng.random() < 1 / 3,
            params={f"p{k}": str(rng.randint(0, 9)) for k in range(PARAMS_PER_RUN)},
            metrics={f"m{k}": rng.random() for k in range(METRICS_PER_RUN)},
        )


def metric_value(i: int) -> float:
    """The ``i``-th value logged in scenarios 1 and 2."""
    return (i % 1000) / 1000


def run_params(run: int) -> dict[str, str]:
    """The params logged on run ``run`` of scenario 3."""
    return {f"p{k}": str(run * k) for k in range(PARAMS_PER_RUN)}


def run_metrics(run: int) -> dict[str, float]:
    """The metrics logged on run ``run`` of scenario 3."""
    return {f"m{k}": (run + k) / 100 for k in range(METRICS_PER_RUN)}


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started


def emit(**report: Any) -> None:
    """Print the driver's report: one JSON line, the last one on stdout."""
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    sys.stdout.flush()


def args() -> tuple[str, str, list[str]]:
    """``(scenario, directory, extra arguments)`` from the command line."""
    if len(sys.argv) < 3:
        raise SystemExit(f"usage: {sys.argv[0]} SCENARIO DIR [ARG...]")
    return sys.argv[1], sys.argv[2], sys.argv[3:]
