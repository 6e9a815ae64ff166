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
SCENARIOS = ((1_000_000, 20, 0, 50.0), (100_000, 20, 5, 20.0))  # rows, num, cat, target


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


def block() -> str:
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
        rows_md.append(
            f"| {rows:,} vs {rows:,} x ({num} num + {cat} cat) | {ours['wall_s']:.2f} s, "
            f"{ours['peak_mb']:.0f} MB ({ours['peak_mb'] - ours['data_mb']:.0f} above data) | "
            f"{theirs['wall_s']:.1f} s, {theirs['peak_mb']:.0f} MB "
            f"({theirs['peak_mb'] - theirs['data_mb']:.0f} above data) | **{speed:.1f}x** "
            f"(target {target:.0f}x: {'PASS' if ok else 'FAIL'}) | {memory:.2f} |"
        )
        print(rows_md[-1], flush=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "## Drift: Conveyor vs Evidently DataDriftPreset (issue 13)",
            "",
            f"Produced by `BENCH_ONLY=drift make bench` (= `.venv/bin/python bench/drift_bench.py`)"
            f" on {when}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the "
            f"end. Evidently {version.strip()} (PyPI, own virtualenv `bench/.venvs/evidently`). "
            "Each figure: one fresh process per tool, wall time of the drift call alone "
            "(data built before the clock starts); peak RSS of the process "
            "(`getrusage`), and how much of it came after the data was built.",
            "",
            "| data | Conveyor | Evidently | speed-up | memory above data, ours/theirs |",
            "| --- | --- | --- | --- | --- |",
            *rows_md,
        ]
    )


def main() -> int:
    if not wanted():
        return 0
    write_block(RESULTS, KEY, block())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
