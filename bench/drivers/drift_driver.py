"""One drift run in a fresh process: ``drift_driver.py TOOL ROWS NUMERIC CATEGORICAL``.

Runs under Conveyor's interpreter (TOOL=conveyor) or Evidently's virtualenv
(TOOL=evidently). Both build the same seeded frames (a mean shift of 0.05 sd on half the
numeric columns, a share shift on one categorical), then time the drift computation alone.
Prints one JSON line: wall and CPU seconds, peak RSS, RSS once the data was built, drifted
count.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import pandas as pd


def frames(rows: int, numeric: int, categorical: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(13)
    out = []
    for shift in (0.0, 0.05):
        data = {f"x{i}": rng.normal(shift if i % 2 else 0.0, 1.0, rows) for i in range(numeric)}
        for j in range(categorical):
            p = np.array([0.4, 0.3, 0.2, 0.1])
            if shift and j == 0:
                p = np.array([0.35, 0.35, 0.2, 0.1])
            data[f"c{j}"] = pd.Series(rng.choice(list("abcd"), rows, p=p), dtype=object)
        out.append(pd.DataFrame(data))
    return out[0], out[1]


def cpu_s() -> float:
    """User + system CPU seconds of this process, all threads (load-independent-ish)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    tool, rows, numeric, categorical = sys.argv[1], *map(int, sys.argv[2:5])
    reference, current = frames(rows, numeric, categorical)
    data_mb = rss_mb()
    # Imports happen before the clock (for both tools): the figure is the drift call.
    if tool == "evidently":
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    else:
        from conveyor.monitoring.drift import detect_drift
    started, cpu_started = time.perf_counter(), cpu_s()
    if tool == "evidently":
        definition = DataDefinition(
            numerical_columns=[f"x{i}" for i in range(numeric)],
            categorical_columns=[f"c{j}" for j in range(categorical)],
        )
        ref = Dataset.from_pandas(reference, data_definition=definition)
        cur = Dataset.from_pandas(current, data_definition=definition)
        Report([DataDriftPreset()]).run(cur, ref)
        drifted = "not read"
    else:
        report = detect_drift(reference, current)
        drifted = f"{len(report.drifted_features)} of {numeric + categorical}"
    wall, cpu = time.perf_counter() - started, cpu_s() - cpu_started
    result = {"wall_s": wall, "cpu_s": cpu, "peak_mb": rss_mb(), "data_mb": data_mb}
    print(json.dumps({**result, "drifted": drifted}))


if __name__ == "__main__":
    main()
