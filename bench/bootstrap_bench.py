"""Time the paired bootstrap on a 100,000-row holdout, against a scikit-learn loop.

Usage, from the repository root::

    .venv/bin/python bench/bootstrap_bench.py            # 100,000 rows, 2,000 resamples
    .venv/bin/python bench/bootstrap_bench.py --rows 20000

A synthetic binary holdout (30% positives, seeded) is scored by two correlated models. The
script times, best of ``--repeat`` runs (wall clock and this process's CPU time, since a
shared machine lends CPU unevenly), ``paired_bootstrap`` of roc_auc and of accuracy with
2,000 resamples, and McNemar's test; then one more run of each under :mod:`tracemalloc` for
the peak memory numpy and Python allocated. The naive baseline calls scikit-learn's
``roc_auc_score`` for both models in a Python loop over the first ``--naive`` of the same
resamples, extrapolated to 2,000, and the script checks that it gives the same differences.
It prints a markdown table; the whole run takes under a minute on two cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from conveyor.evaluation.predict import Predictions
from conveyor.evaluation.stats import mcnemar, paired_bootstrap, resample_rows

SEED = 0


def holdout(rows: int) -> tuple[Predictions, Predictions]:
    """Two models' predictions of the same rows: noisy logits sharing part of their noise."""
    rng = np.random.default_rng(SEED)
    y = rng.random(rows) < 0.3
    shared = rng.normal(size=rows)
    sign = 2.0 * y - 1

    def model(strength: float) -> Predictions:
        scores = 1 / (1 + np.exp(-(strength * sign + shared + rng.normal(size=rows))))
        labels = np.where(y, "1", "0")
        return Predictions(labels, np.where(scores > 0.5, "1", "0"), scores, ["0", "1"], "1")

    return model(1.2), model(1.0)


def best_of(repeat: int, work: Callable[[], Any]) -> tuple[float, float]:
    """The smallest wall-clock and CPU seconds of ``repeat`` runs of ``work``."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def peak_mb(work: Callable[[], Any]) -> float:
    """The peak memory traced while ``work`` runs, in MB."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def naive_roc_auc(
    candidate: Predictions, champion: Predictions, resamples: int
) -> tuple[float, float, np.ndarray]:
    """scikit-learn in a loop over the bootstrap's own first resamples (same seed, chunks)."""
    assert candidate.scores is not None
    assert champion.scores is not None
    drawn = np.concatenate(list(resample_rows(candidate.n, resamples, SEED)))
    positive = candidate.actual_positive
    wall, cpu = time.perf_counter(), time.process_time()
    differences = np.array(
        [
            roc_auc_score(positive[r], candidate.scores[r])
            - roc_auc_score(positive[r], champion.scores[r])
            for r in drawn
        ]
    )
    return time.perf_counter() - wall, time.process_time() - cpu, differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive", type=int, default=200, help="resamples of the sklearn loop")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    candidate, champion = holdout(args.rows)

    def boot(metric: str) -> Callable[[], Any]:
        return lambda: paired_bootstrap(
            candidate, champion, metric, resamples=args.resamples, seed=SEED
        )

    correct = (candidate.y_pred == candidate.y_true, champion.y_pred == champion.y_true)
    table = []
    for label, work in (
        (f"paired bootstrap, roc_auc, {args.resamples} resamples", boot("roc_auc")),
        (f"paired bootstrap, accuracy, {args.resamples} resamples", boot("accuracy")),
        ("McNemar's test", lambda: mcnemar(*correct)),
    ):
        wall, cpu = best_of(args.repeat, work)
        table.append((label, wall, cpu, peak_mb(work)))
    wall, cpu, naive = naive_roc_auc(candidate, champion, args.naive)
    scale = args.resamples / args.naive
    table.append(
        (
            f"sklearn roc_auc_score loop ({args.naive} resamples, x{scale:g})",
            wall * scale,
            cpu * scale,
            float("nan"),
        )
    )
    fast = paired_bootstrap(candidate, champion, "roc_auc", resamples=args.naive, seed=SEED)
    agree = float(np.max(np.abs(fast.distribution - naive)))
    print(
        f"{args.rows:,} rows, {candidate.actual_positive.mean():.0%} positive; "
        f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after\n"
    )
    print("| operation | wall s (best of 3) | CPU s (best of 3) | peak traced MB |")
    print("|---|---:|---:|---:|")
    for label, wall, cpu, peak in table:
        print(f"| {label} | {wall:.4g} | {cpu:.4g} | {peak:.0f} |".replace("| nan |", "| – |"))
    result = boot("roc_auc")()
    print(
        f"\nroc_auc: candidate {result.candidate:.4f}, champion {result.champion:.4f}, "
        f"difference {result.difference:+.4f}, 95% interval [{result.low:+.4f}, "
        f"{result.high:+.4f}]; the sklearn loop's differences agree within {agree:.1e}; "
        f"process peak RSS, libraries and the sklearn loop's rows included: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
