"""Steady load on the demo's gateway from a few threads, until stopped; then what it saw.

Usage: python examples/load.py URL MODEL HOLDOUT.csv [THREADS] [RATE] [MAX_SECONDS]

Each thread sends single-row predictions, cycling through the holdout rows, at most RATE
requests a second in all (300 by default: a steady load that leaves the gateway room for
its pre-traffic checks), until SIGTERM or SIGINT (or MAX_SECONDS, 300 by default). It then
prints how many requests each version answered and how many failed, by the version that
failed them (a failed answer names it too): a canary's errors are the canary's alone.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter

import httpx
import pandas as pd
from canary_requests import wait_ready

VERSION = "X-Conveyor-Model-Version"


def hammer(
    url: str, model: str, bodies: list[dict], every_s: float, stop: threading.Event, seen: Counter
) -> None:
    """Send ``bodies`` round and round, one every ``every_s`` seconds at most, until
    ``stop``; count (version, ok) of each answer."""
    with httpx.Client(base_url=url, timeout=10) as http:
        i, due = 0, time.monotonic()
        while not stop.wait(max(0.0, due - time.monotonic())):
            due += every_s
            try:
                answer = http.post(f"/v1/models/{model}:predict", json=bodies[i % len(bodies)])
            except httpx.TransportError:
                seen[("no answer", False)] += 1
                continue
            version = answer.headers.get(VERSION, "?")  # on errors too: who failed it
            seen[(version, answer.status_code < 500)] += 1
            i += 1


def main() -> None:
    url, model, holdout = sys.argv[1:4]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else 300.0
    seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 300.0
    wait_ready(url)
    rows = pd.read_csv(holdout).drop(columns=["target", "clinic"])
    bodies = [{"instances": rows.iloc[[i]].to_dict(orient="records")} for i in range(len(rows))]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    counts = [Counter[tuple[str, bool]]() for _ in range(threads)]  # one per thread
    workers = [
        threading.Thread(
            target=hammer, args=(url, model, bodies[k::threads], threads / rate, stop, counts[k])
        )
        for k in range(threads)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    stop.wait(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    seen = sum(counts, Counter[tuple[str, bool]]())
    total = sum(seen.values())
    rate_seen = total / elapsed
    print(f"load: {total} requests in {elapsed:.0f} s ({rate_seen:.0f}/s), {threads} threads")
    for version in sorted({v for v, _ in seen}):
        ok, failed = seen[(version, True)], seen[(version, False)]
        print(f"  version {version}: {ok + failed} answered, {failed} failed")


if __name__ == "__main__":
    main()
