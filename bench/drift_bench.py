"""The drift group: Conveyor's drift detection against Evidently's DataDriftPreset.

Issue 13's budgets: 1M vs 1M rows x 20 numeric at least 50x faster than Evidently and at
most a third of its memory; 100k x (20 numeric + 5 categorical) at least 20x faster. Each
tool runs in a fresh process (``bench/drivers/drift_driver.py``) on the same seeded data;
Evidently in its own virtualenv ``bench/.venvs/evidently`` (built like the MLflow one).

Usage, from the repository root::

    BENCH_ONLY=drift make bench
    .venv/bin/python bench/drift_bench.py

Replaces the ``<!-- group:drift -->`` block of RESULTS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from report import write_block
from tools import BENCH_DIR, REPO_ROOT, ensure_venv

RESULTS = BENCH_DIR / "RESULTS.md"
KEY = "drift"
VENV = BENCH_DIR / ".venvs" / "evidently"
DRIVER = BENCH_DIR / "drivers" / "drift_driver.py"
POWER = BENCH_DIR / "drivers" / "drift_power.py"
SCENARIOS = ((1_000_000, 20, 0, 50.0), (100_000, 20, 5, 20.0))  # rows, num, cat, target
POWER_SEEDS = 200
POWER_SIZES = (2_000, 20_000)  # rows a side: n_eff 1,000 (no floor) and 10,000 (0.1 floor)


def wanted() -> bool:
    only = [t.strip().lower() for t in os.environ.get("BENCH_ONLY", "").split(",") if t.strip()]
    return not only or KEY in only


def evidently_python() -> Path:
    python = ensure_venv(VENV, "evidently", "evidently").parent / "python"
    # evidently 0.7 imports pandas internals that pandas 3 removed.
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "pandas<3"], check=True)
    return python


def run(python: Path, tool: str, rows: int, num: int, cat: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    argv = [str(python), str(DRIVER), tool, str(rows), str(num), str(cat)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def power_rows() -> list[str]:
    """The power table and the false-alarm rate, simulated by ``drivers/drift_power.py``."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    argv = [sys.executable, str(POWER), str(POWER_SEEDS), *map(str, POWER_SIZES)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cases = list(next(iter(result["power"].values())))
    sizes = list(result["power"])
    lines = [
        f"Power (share of {result['seeds']} seeds in which the shifted feature is reported "
        "drifted; 10 features, one shifted; BH at 0.05 over every signal; "
        f"`bench/drivers/drift_power.py {POWER_SEEDS} {' '.join(sizes)}`):",
        "",
        "| shift | " + " | ".join(f"{int(n):,} vs {int(n):,} rows" for n in sizes) + " |",
        "| --- | " + " | ".join("---" for _ in sizes) + " |",
    ]
    for case in cases:
        cells = " | ".join(f"{result['power'][n][case]:.0%}" for n in sizes)
        lines.append(f"| {case} | {cells} |")
    lines += [
        "",
        f"False alarms: {result['false_alarm']:.1%} of {result['false_alarm_seeds']} no-drift "
        "datasets (50 normal features, 1,000 vs 1,000 rows) reported drift "
        "(alpha = 0.05, BH across all 150 signals: distribution, missing and non-finite share "
        "of each feature).",
    ]
    print("\n".join(lines), flush=True)
    return lines


def block() -> str:
    load_before = os.getloadavg()[0]
    peer = evidently_python()
    probe = "import importlib.metadata as m; print(m.version('evidently'))"
    version = subprocess.run([str(peer), "-c", probe], capture_output=True, text=True).stdout
    rows_md = []
    for rows, num, cat, target in SCENARIOS:
        ours = run(Path(sys.executable), "conveyor", rows, num, cat)
        theirs = run(peer, "evidently", rows, num, cat)
        speed = theirs["wall_s"] / ours["wall_s"]
        memory = (ours["peak_mb"] - ours["data_mb"]) / max(theirs["peak_mb"] - theirs["data_mb"], 1)
        ok = speed >= target
        cpu_speed = theirs["cpu_s"] / ours["cpu_s"]
        rows_md.append(
            f"| {rows:,} vs {rows:,} x ({num} num + {cat} cat) | {ours['wall_s']:.2f} s "
            f"(CPU {ours['cpu_s']:.2f} s), {ours['peak_mb']:.0f} MB "
            f"({ours['peak_mb'] - ours['data_mb']:.0f} above data) | "
            f"{theirs['wall_s']:.1f} s (CPU {theirs['cpu_s']:.1f} s), {theirs['peak_mb']:.0f} MB "
            f"({theirs['peak_mb'] - theirs['data_mb']:.0f} above data) | **{speed:.1f}x** "
            f"(target {target:.0f}x: {'PASS' if ok else 'FAIL'}) | {cpu_speed:.1f}x | "
            f"{memory:.2f} | {ours['peak_mb'] / theirs['peak_mb']:.2f} |"
        )
        print(rows_md[-1], flush=True)
    power = power_rows()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "## Drift: Conveyor vs Evidently DataDriftPreset (issue 13)",
            "",
            f"Produced by `BENCH_ONLY=drift make bench` (= `.venv/bin/python bench/drift_bench.py`)"
            f" on {when}, {os.cpu_count()} cores shared with other work: load average "
            f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end. "
            f"Evidently {version.strip()} (PyPI, own virtualenv `bench/.venvs/evidently`). "
            "Each figure: one fresh process per tool, wall time of the drift call alone "
            "(data built before the clock starts); peak RSS of the process "
            "(`getrusage`), and how much of it came after the data was built. The machine is "
            "shared, so CPU seconds (user + system, all threads) are given beside wall time.",
            "",
            "| data | Conveyor | Evidently | speed-up (wall) | speed-up (CPU) | "
            "memory above data, ours/theirs | peak RSS, ours/theirs |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows_md,
            "",
            *power,
        ]
    )


def main() -> int:
    if not wanted():
        return 0
    write_block(RESULTS, KEY, block())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
