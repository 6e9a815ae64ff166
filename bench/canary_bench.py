"""Decision quality of canary judges, measured by simulation with known effects (issue 12).

Each run is a simulated canary rollout: windows of ``WINDOW`` requests routed at random,
the canary's share stepping 5% -> 25% -> 50% (then promoted) when the judge passes, rolled
back when it fails, held when inconclusive, for at most ``MAX_WINDOWS`` windows (the
planned sample). Stable requests: 1% errors, log-normal latencies (median 50 ms, log-sd
0.5), the scores of a logistic regression fitted on scikit-learn's breast-cancer data, 90%
of predictions correct (every request labelled). Cases change one thing in the canary;
"predictions shifted" serves the canary from a model fitted on shuffled labels (its
correctness is then measured against the true labels on both arms).

Usage, from the repository root::

    BENCH_ONLY=canary make bench
    .venv/bin/python bench/canary_bench.py          # CANARY_SEEDS=50 for a quick look

Replaces the ``<!-- group:canary -->`` block of RESULTS.md.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from report import write_block
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conveyor.delivery.analysis.counts import ErrorRateTest
from conveyor.delivery.analysis.judge import (
    ArmSample,
    ConveyorJudge,
    FlaggerJudge,
    KayentaJudge,
    Window,
)
from conveyor.delivery.analysis.labels import AccuracyTest
from conveyor.delivery.analysis.latency import LatencyTest
from conveyor.delivery.analysis.predictions import PredictionShiftTest

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
KEY = "canary"
SEEDS = int(os.environ.get("CANARY_SEEDS", "200"))
WINDOW = 4000  # requests per window, both arms
STEPS = (0.05, 0.25, 0.5)
MAX_WINDOWS = 24


@dataclass(frozen=True)
class Case:
    name: str
    target: str  # what issue 12 asks
    faulty: bool
    error_rate: float = 0.01
    slowdown: float = 1.0
    accuracy: float = 0.90
    shuffled: bool = False


CASES = (
    Case("identical canary", "false rollbacks <= 5%", faulty=False),
    Case("error rate 1% -> 3%", "caught >= 95%", faulty=True, error_rate=0.03),
    Case("latency +20%", "caught >= 95%", faulty=True, slowdown=1.2),
    Case("predictions shifted", "caught >= 99%", faulty=True, shuffled=True),
    Case("accuracy -3 points", "caught >= 90%", faulty=True, accuracy=0.87),
)


class Models:
    """Scores of a real model and of one fitted on shuffled labels, per data row."""

    def __init__(self) -> None:
        x, y = load_breast_cancer(return_X_y=True)
        shuffled = np.random.default_rng(0).permutation(y)
        self.y = y
        self.real = self._fit(x, y).predict_proba(x)[:, 1]
        self.shuffled = self._fit(x, shuffled).predict_proba(x)[:, 1]

    @staticmethod
    def _fit(x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


def arm(rng: np.random.Generator, n: int, case: Case, canary: bool, models: Models) -> ArmSample:
    faulty = canary and case.faulty
    rate = case.error_rate if canary else 0.01
    latency = 50.0 * np.exp(0.5 * rng.standard_normal(n)) * (case.slowdown if canary else 1.0)
    rows = rng.integers(0, models.y.size, n)
    if case.shuffled:
        scores = (models.shuffled if faulty else models.real)[rows]
        correct = ((scores >= 0.5) == models.y[rows]).astype(float)
    else:
        scores = models.real[rows]
        correct = (rng.random(n) < (case.accuracy if canary else 0.90)).astype(float)
    return ArmSample(rng.random(n) < rate, latency, scores, correct)


Judge = Callable[[list[Window]], object]


def rollout(judge: object, case: Case, seed: int, models: Models) -> tuple[str, int, int]:
    """(outcome, windows, canary requests) of one simulated rollout."""
    rng = np.random.default_rng(seed)
    windows: list[Window] = []
    step, canary_requests = 0, 0
    while len(windows) < MAX_WINDOWS:
        share = STEPS[step]
        n_canary = int(rng.binomial(WINDOW, share))
        canary_requests += n_canary
        windows.append(
            Window(
                arm(rng, n_canary, case, True, models),
                arm(rng, WINDOW - n_canary, case, False, models),
                share,
            )
        )
        decision = judge.judge(windows).decision  # type: ignore[attr-defined]
        if decision == "fail":
            return "rolled back", len(windows), canary_requests
        if decision == "pass":
            step += 1
            if step == len(STEPS):
                return "promoted", len(windows), canary_requests
    return "undecided", len(windows), canary_requests


def judges() -> list[object]:
    return [
        ConveyorJudge(
            errors=ErrorRateTest(base_rate=0.01, worse_rate=0.03, power=0.95),
            latency=LatencyTest(slowdown=1.2, sigma=0.5, power=0.95),
            predictions=PredictionShiftTest(),
            accuracy=AccuracyTest(base_accuracy=0.90, drop=0.03, power=0.95),
        ),
        FlaggerJudge(),
        KayentaJudge(),
    ]


def measure(models: Models) -> list[tuple[Case, str, dict[str, float]]]:
    rows = []
    for case in CASES:
        for judge in judges():
            outcomes = [rollout(judge, case, seed, models) for seed in range(SEEDS)]
            back = [o for o in outcomes if o[0] == "rolled back"]
            rate = len(back) / SEEDS
            rows.append(
                (
                    case,
                    judge.name,  # type: ignore[attr-defined]
                    {
                        "rolled_back": rate,
                        "promoted": sum(o[0] == "promoted" for o in outcomes) / SEEDS,
                        "windows": float(np.median([o[1] for o in back])) if back else np.nan,
                        "requests": float(np.median([o[2] for o in back])) if back else np.nan,
                        "promote_windows": float(
                            np.median([o[1] for o in outcomes if o[0] == "promoted"] or [np.nan])
                        ),
                    },
                )
            )
            print(f"{case.name:24} {rows[-1][1]:9} {rows[-1][2]}", flush=True)
    return rows


def table(rows: list[tuple[Case, str, dict[str, float]]]) -> str:
    lines = [
        "| case | target | judge | rolled back | promoted | median windows to rollback "
        "| median canary requests to rollback | target met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, name, r in rows:
        if case.faulty:
            needed = float(case.target.split(">=")[1].strip(" %")) / 100
            met = r["rolled_back"] >= needed
        else:
            met = r["rolled_back"] <= 0.05
        windows = "—" if np.isnan(r["windows"]) else f"{r['windows']:.0f}"
        requests = "—" if np.isnan(r["requests"]) else f"{r['requests']:,.0f}"
        lines.append(
            f"| {case.name} | {case.target} | {name} | {r['rolled_back']:.1%} | "
            f"{r['promoted']:.1%} | {windows} | {requests} | {'yes' if met else 'no'} |"
        )
    return "\n".join(lines)


def block(rows: list[tuple[Case, str, dict[str, float]]], took: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""## Canary judges: decision quality by simulation (issue 12)

Produced by `BENCH_ONLY=canary make bench` (= `.venv/bin/python bench/canary_bench.py`) on
{when} in {took:.0f} s, {SEEDS} seeds per case and judge. Each run simulates a rollout:
windows of {WINDOW:,} requests routed at random, the canary's share stepping
{" -> ".join(f"{s:.0%}" for s in STEPS)} on a pass, rolled back on a fail, held when
inconclusive, for at most {MAX_WINDOWS} windows (the planned sample; "undecided" after).
Stable: 1% errors, log-normal latency (median 50 ms, log-sd 0.5), a logistic regression's
scores on scikit-learn's breast-cancer rows, 90% correct with every request labelled.

- **conveyor**: `ConveyorJudge` (always-valid count test for errors, binned-latency
  test slower-only, PSI with noise quantile, always-valid accuracy test), judging the
  whole history after every window; minimum samples planned for the effects below at
  power 0.95.
- **flagger**: success rate >= 99% and p99 <= 500 ms per window, rollback after 5 failed
  checks; never looks at the stable arm, predictions or labels.
- **kayenta**: Mann-Whitney with a 98% Hodges-Lehmann interval and 25% tolerance per
  metric (error rate and accuracy as 10 points per window, latency and scores per
  request, at most 1,000 values per arm), on the current step's windows, every metric
  critical; score >= 75 passes.

{table(rows)}

"Rolled back" in the identical case is the false-rollback rate; in the others the
detection rate. Time to detection counts windows (of {WINDOW:,} requests) and canary
requests until the rollback."""


def main() -> int:
    only = [t.strip().lower() for t in os.environ.get("BENCH_ONLY", "").split(",") if t.strip()]
    if only and KEY not in only:
        return 0
    started = time.monotonic()
    rows = measure(Models())
    section = block(rows, time.monotonic() - started)
    print(section)
    if SEEDS >= 200:
        write_block(RESULTS, KEY, section)
        print(f"wrote {RESULTS.relative_to(BENCH.parent)} (canary block)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
