"""The quality group: data validation and the bootstrap gate, against their floors.

Issue 4's budgets: validating 1,000,000 rows x 20 columns, and a 2,000-resample paired
bootstrap gate on a 100,000-row holdout, each in seconds. There is no peer tool that does
either end to end, so each is measured beside its floor in the same run: pandera alone on a
frame already in memory (validation), and scikit-learn's ``roc_auc_score`` called once per
resample (the bootstrap as people write it by hand).

Usage, from the repository root (``make bench`` runs it after ``bench/run.py``)::

    BENCH_ONLY=quality make bench
    .venv/bin/python bench/quality.py

The block between ``<!-- group:quality -->`` markers in RESULTS.md is replaced; the rest of
the file is left as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from report import write_block

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
KEY = "quality"


def wanted() -> bool:
    """Whether ``BENCH_ONLY`` (empty: everything) asks for this group."""
    only = [t.strip().lower() for t in os.environ.get("BENCH_ONLY", "").split(",") if t.strip()]
    return not only or KEY in only


def measure(script: str) -> tuple[str, float]:
    """Run one bench script; its stdout (markdown) and how long it took."""
    started = time.monotonic()
    print(f"quality: {script} ...", flush=True)
    done = subprocess.run(
        [sys.executable, str(BENCH / script)],
        check=True,
        capture_output=True,
        text=True,
        cwd=BENCH.parent,
    )
    took = time.monotonic() - started
    print(done.stdout, flush=True)
    return done.stdout.strip(), took


def block() -> str:
    """The group's section of RESULTS.md."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    validation, validation_s = measure("validation_bench.py")
    bootstrap, bootstrap_s = measure("bootstrap_bench.py")
    load = os.getloadavg()[0]
    return f"""## Quality: validation and the bootstrap gate (budgets from issue 4)

Produced by `BENCH_ONLY=quality make bench` (= `.venv/bin/python bench/quality.py`) on
{when}, {os.cpu_count()} cores, load average {load:.2f} at the end. No peer tool validates a
file against a schema in chunks or gates a model with a paired bootstrap end to end, so
each is timed beside its floor in the same run. No test asserts on these timings.

### Validating 1,000,000 rows x 20 columns ({validation_s:.0f} s for this section)

Budget: "in seconds". `conveyor validate` end to end, as a user runs it (a fresh process:
start-up, imports, reading, checking, the report), at three chunk sizes, against the floor:
pandas reading the file plus pandera's `validate(lazy=True)` on the frame in memory.

{validation}

### Paired bootstrap gate: 2,000 resamples of a 100,000-row holdout ({bootstrap_s:.0f} s)

Budget: "in seconds". Conveyor's vectorised paired bootstrap (both models resampled with the
same rows) against scikit-learn's `roc_auc_score` in a Python loop over the same resamples
(a subset, scaled up), which is how such a gate is usually written.

{bootstrap}"""


def write(section: str) -> None:
    """Replace (or append) the quality block of RESULTS.md."""
    write_block(RESULTS, KEY, section)
    print(f"wrote {RESULTS.relative_to(BENCH.parent)} (quality block)")


def main() -> int:
    if not wanted():
        return 0
    write(block())
    return 0


if __name__ == "__main__":
    sys.exit(main())
