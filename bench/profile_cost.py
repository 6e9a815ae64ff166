"""CPU per request of the gateway's live profiles, in-process: what a throughput run cannot
isolate on a shared, noisy machine.

    .venv/bin/python bench/profile_cost.py

The serving bench's model (breast cancer, 30 numeric features, a reference profile of its
569 training rows and its predictions). ``REQUESTS`` one-row requests, built as the gateway
builds them (one DataFrame per request sharing the route's column Index; varied rows), are
told to a ``ProfileRecorder`` writing to a scratch SQLite store, all in one window; the CPU
time of ``observe`` (the event loop's share) and of the thread's wakes (stacking, counting,
sketches) is divided by the requests, and the window's one write (serializing, zlib, the
transaction) is timed apart. Compare
with a request's whole CPU cost in the gateway (req/s per busy core in RESULTS.md).
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from conveyor.monitoring.profile import build_profile
from conveyor.monitoring.profile_options import ProfileOptions
from conveyor.monitoring.profiler import ProfileRecorder
from conveyor.store import open_store

REQUESTS = 20_000
FLUSH_EVERY = 1_000  # the thread wakes at 1,000 waiting rows (CHUNK_ROWS), or every 2 s


@dataclass(frozen=True)
class Call:
    """A model call as the gateway's batcher reports it (``BatchRecord``'s fields read)."""

    model: str
    version: int
    answered: tuple[tuple[pd.DataFrame, np.ndarray], ...]


def main() -> None:
    X = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    reference = build_profile(X, predictions=(X["mean radius"] > 14).astype(int).to_numpy())
    index = pd.Index([str(c) for c in X.columns])
    rows = X.to_numpy()
    picks = np.random.default_rng(0).integers(0, len(rows), REQUESTS)
    for merged in (1, 16):  # c=1: one request per model call; c=16: about 16 merged
        calls = [
            Call("cancer", 1, ((pd.DataFrame(rows[chunk], columns=index), chunk % 2),))
            for chunk in np.array_split(picks, REQUESTS // merged)
        ]
        measure(reference, calls, merged)


def measure(reference: object, calls: list[Call], merged: int) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(f"sqlite:///{Path(scratch) / 'c.db'}")
        recorder = ProfileRecorder(
            store.signals,
            lambda model, version: reference,  # type: ignore[arg-type,return-value]
            options=ProfileOptions(window_s=60),
            clock=lambda: now.timestamp(),  # one window: the thread counts, writes at its end
        )
        observe = count = 0.0
        per_flush = max(1, FLUSH_EVERY // merged)
        for start in range(0, len(calls), per_flush):
            began = time.thread_time()
            for call in calls[start : start + per_flush]:
                recorder.observe_call(call)
            observe += time.thread_time() - began
            began = time.thread_time()
            recorder.flush()  # the thread's wake: stack and count, nothing to write yet
            count += time.thread_time() - began
        began = time.thread_time()
        written = recorder.flush(everything=True)  # the window's end: serialize and write
        write = time.thread_time() - began
        store.close()
    print(
        f"{REQUESTS:,} one-row requests in model calls of {merged} (30 features + predictions): "
        f"observe_call (event loop) {observe / REQUESTS * 1e6:.2f} us per request, thread "
        f"(stack and count) {count / REQUESTS * 1e6:.2f} us per request, the window's "
        f"write ({written} row) {write * 1e3:.1f} ms; profiled rows "
        f"{recorder.stats()['rows']:,}"
    )
    tag = "PROFILE_COST_US" if merged == 1 else f"PROFILE_COST_US_{merged}"
    print(f"{tag} {(observe + count) / REQUESTS * 1e6:.3f}")  # for serving_bench.py


if __name__ == "__main__":
    sys.exit(main())
