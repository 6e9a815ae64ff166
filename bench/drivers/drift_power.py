"""Power and false alarms of Conveyor's drift verdict, by simulation (issue 13, correctness).

``drift_power.py SEEDS N [N ...]`` prints one JSON line:

- ``power[n][case]``: the share of seeds in which the shifted feature is reported drifted,
  each seed a fresh reference and current of ``n`` rows a side and 10 features (8 normal,
  one with a 5 % missing share, one categorical with shares 0.4/0.3/0.2/0.1), ONE of them
  shifted; the decision is the full one (BH at 0.05 across every signal of the report,
  calibrated thresholds, the 0.1 floor at large n).
- ``false_alarm``: the share of 200+ seeds with no drift anywhere, 50 normal features,
  1,000 vs 1,000 rows, where the report still says "drift".
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from conveyor.monitoring.drift import detect_drift

CASES = ("mean +0.1 sd", "mean +0.3 sd", "category share +5 points", "missing share +10 points")
TARGET = {CASES[0]: "x0", CASES[1]: "x0", CASES[2]: "c0", CASES[3]: "m0"}


def side(rng: np.random.Generator, n: int, case: str | None) -> pd.DataFrame:
    shift = {"mean +0.1 sd": 0.1, "mean +0.3 sd": 0.3}.get(case or "", 0.0)
    data = {f"x{i}": rng.normal(shift if i == 0 else 0.0, 1.0, n) for i in range(8)}
    missing = rng.random(n) < (0.15 if case == CASES[3] else 0.05)
    data["m0"] = np.where(missing, np.nan, rng.normal(size=n))
    shares = [0.45, 0.25, 0.2, 0.1] if case == CASES[2] else [0.4, 0.3, 0.2, 0.1]
    data["c0"] = rng.choice(np.array(list("abcd"), dtype=object), n, p=shares)
    return pd.DataFrame(data)


def power(n: int, seeds: int) -> dict[str, float]:
    out = {}
    for case in CASES:
        hits = 0
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            report = detect_drift(side(rng, n, None), side(rng, n, case), workers=1)
            hits += report.feature(TARGET[case]).drifted
        out[case] = hits / seeds
    return out


def false_alarm(seeds: int, features: int = 50, n: int = 1_000) -> float:
    alarms = 0
    names = [f"f{i}" for i in range(features)]
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 + seed)
        reference = pd.DataFrame(rng.normal(size=(n, features)), columns=names)
        current = pd.DataFrame(rng.normal(size=(n, features)), columns=names)
        alarms += detect_drift(reference, current, workers=1).drifted
    return alarms / seeds


def main() -> None:
    seeds, sizes = int(sys.argv[1]), [int(a) for a in sys.argv[2:]]
    result = {
        "seeds": seeds,
        "power": {str(n): power(n, seeds) for n in sizes},
        "false_alarm": false_alarm(max(seeds, 200)),
        "false_alarm_seeds": max(seeds, 200),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
