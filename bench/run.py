"""Benchmark Conveyor against DVC, side by side, in one run; write bench/RESULTS.md.

Usage, from the repository root::

    make bench                      # = PATH=.venv/bin:$PATH .venv/bin/python bench/run.py
    BENCH_REPS=3 make bench         # repetitions of scenarios 1, 2, 5 (default 5)
    BENCH_HEAVY_REPS=2 make bench   # repetitions of scenarios 3, 4 (default 3)
    BENCH_ONLY=1,5 .venv/bin/python bench/run.py   # some scenarios; RESULTS.md untouched

DVC is installed into ``bench/.venvs/dvc`` on the first run; both tools' bytecode is
cached in ``bench/.venvs/pycache``. Scratch projects live in ``bench/.work/`` and are
deleted as each scenario ends. ``VERSION`` lines and a result table
go to stdout. Takes about 5 minutes on the 2-core machine (most of it in scenarios 3 and 4).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import report  # bench/ is on sys.path: Python puts the script's directory there
import scenarios
from results import ScenarioResult
from timing import Command, CpuMonitor, Stats, load_average, time_interleaved, warm_up
from tools import BENCH_DIR, Tools, find_tools, source_fingerprint, versions

WORK = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "RESULTS.md"

Scenario = Callable[[Tools, Path, int], ScenarioResult]
# (number, function, uses the heavy repetition count)
SCENARIOS: tuple[tuple[int, Scenario, bool], ...] = (
    (1, scenarios.noop_run, False),
    (2, scenarios.status_many_files, False),
    (3, scenarios.hash_big_file, True),
    (4, scenarios.parallel_stages, True),
    (5, scenarios.help_text, False),
)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _selected() -> set[int]:
    only = os.environ.get("BENCH_ONLY", "")
    return {int(n) for n in only.split(",") if n.strip()} or {n for n, _, _ in SCENARIOS}


def python_floor(tools: Tools, reps: int) -> Stats:
    """What starting the interpreter and doing nothing costs here."""
    argv = [sys.executable, "-c", "pass"]
    warm_up(argv, BENCH_DIR, tools.env)
    [floor] = time_interleaved([Command(argv, BENCH_DIR)], tools.env, reps)
    return floor


def run_scenarios(
    tools: Tools, selected: set[int], reps: int, heavy_reps: int
) -> list[ScenarioResult]:
    """Run the selected scenarios in order, always deleting the scratch directory after."""
    shutil.rmtree(WORK, ignore_errors=True)
    results = []
    try:
        for number, scenario, heavy in SCENARIOS:
            if number not in selected:
                continue
            print(f"scenario {number}: {scenario.__name__} ...", flush=True)
            started = time.monotonic()
            results.append(scenario(tools, WORK / str(number), heavy_reps if heavy else reps))
            print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    return results


def main() -> int:
    reps = _env_int("BENCH_REPS", 5)
    heavy_reps = _env_int("BENCH_HEAVY_REPS", min(3, reps))
    selected = _selected()
    tools = find_tools()
    info_versions = versions(tools)
    print("\n".join(report.version_lines(info_versions)), flush=True)

    source_before = source_fingerprint()
    load_before = load_average()
    cpu = CpuMonitor()
    started, clock = datetime.now(UTC), time.monotonic()
    floor = python_floor(tools, reps)
    results = run_scenarios(tools, selected, reps, heavy_reps)
    source_changed = source_fingerprint() != source_before
    if source_changed:
        print("WARNING: Conveyor's source changed during the run; figures may mix versions")
    info = report.RunInfo(
        versions=info_versions,
        reps=reps,
        heavy_reps=heavy_reps,
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        duration_s=time.monotonic() - clock,
        cpu=cpu.shares(),
        load_before=load_before,
        python_floor=floor,
        source_changed=source_changed,
        bytecode_was_off=bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
    )
    print()
    print(report.terminal_table(results))
    if selected == {n for n, _, _ in SCENARIOS}:
        RESULTS.write_text(report.markdown(results, info), encoding="utf-8")
        print(f"\nwrote {RESULTS.relative_to(BENCH_DIR.parent)}")
    else:
        print("\n(BENCH_ONLY set: RESULTS.md left as it was)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
