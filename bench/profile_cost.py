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
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.profile import build_profile
from conveyor.monitoring.profiler import ProfileOptions, ProfileRecorder
from conveyor.store import open_store

REQUESTS = 20_000
FLUSH_EVERY = 1_000  # the thread wakes at 1,000 waiting rows (CHUNK_ROWS), or every 2 s


def main() -> None:
    X = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    reference = build_profile(X, predictions=(X["mean radius"] > 14).astype(int).to_numpy())
    index = pd.Index([str(c) for c in X.columns])
    rows = X.to_numpy()
    picks = np.random.default_rng(0).integers(0, len(rows), REQUESTS)
    now = datetime.now(UTC)
    predictions = [
        Prediction(
            f"r{i}",
            "cancer",
            1,
            pd.DataFrame(rows[[k]], columns=index),
            np.array([k % 2]),
            0.001,
            now,
        )
        for i, k in enumerate(picks)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(f"sqlite:///{Path(scratch) / 'c.db'}")
        recorder = ProfileRecorder(
            store.signals,
            lambda model, version: reference,
            options=ProfileOptions(window_s=60),
            clock=lambda: now.timestamp(),  # one window: the thread counts, writes at its end
        )
        observe = count = 0.0
        for start in range(0, REQUESTS, FLUSH_EVERY):
            began = time.thread_time()
            for prediction in predictions[start : start + FLUSH_EVERY]:
                recorder.observe(prediction)
            observe += time.thread_time() - began
            began = time.thread_time()
            recorder.flush()  # the thread's wake: stack and count, nothing to write yet
            count += time.thread_time() - began
        began = time.thread_time()
        written = recorder.flush(everything=True)  # the window's end: serialize and write
        write = time.thread_time() - began
        store.close()
    print(
        f"{REQUESTS:,} one-row requests, 30 features + predictions, counted every {FLUSH_EVERY:,}"
    )
    print(f"observe (event loop): {observe / REQUESTS * 1e6:.2f} us per request")
    print(f"thread, stack and count: {count / REQUESTS * 1e6:.2f} us per request")
    print(f"thread, serialize and write the window ({written} row): {write * 1e3:.1f} ms")
    print(f"profiled rows: {recorder.stats()['rows']:,}")
    print(f"PROFILE_COST_US {(observe + count) / REQUESTS * 1e6:.3f}")  # for serving_bench.py


if __name__ == "__main__":
    sys.exit(main())
