"""Benchmark Conveyor against its peers, side by side, in one run; write bench/RESULTS.md.

Two groups (``groups.py``): against DVC, the pipeline CLI (``scenarios.py``); against
MLflow, the tracking SDK and the model registry on SQLite (``tracking_scenarios.py``).

Usage, from the repository root::

    make bench                      # = PATH=.venv/bin:$PATH .venv/bin/python bench/run.py
    BENCH_ONLY=mlflow make bench    # one group; RESULTS.md keeps the other group's block
    BENCH_ONLY=dvc make bench
    BENCH_REPS=3 make bench         # repetitions of the light scenarios (default 5)
    BENCH_HEAVY_REPS=2 make bench   # repetitions of DVC 3, 4 and MLflow M1, M4 (default 3)
    BENCH_ONLY=1,m5 .venv/bin/python bench/run.py   # some scenarios; RESULTS.md untouched
    BENCH_ONLY=quality make bench   # validation + bootstrap (bench/quality.py)
    BENCH_ONLY=canary make bench    # canary judges' decision quality (bench/canary_bench.py)
    BENCH_ONLY=serving make bench   # conveyor serve vs mlflow models serve (prints a table;
                                    # bench/serving_bench.py; its block in RESULTS.md is pasted)
    BENCH_SEARCH_RUNS=10000 ...     # runs seeded for M4 (default 100,000)
    BENCH_MLFLOW_SEARCH_REPS=3 ...  # MLflow's searches over them (default 1: ~4 min each)

DVC and MLflow are installed into ``bench/.venvs/dvc`` and ``bench/.venvs/mlflow`` on the
first run; all tools' bytecode is cached in ``bench/.venvs/pycache``. Scratch projects and
stores live in ``bench/.work/`` and are deleted as each scenario ends. ``VERSION`` lines and
a result table per group go to stdout. On the 2-core machine the DVC group takes about
5 minutes and the MLflow group about 10 (most of it MLflow's 10,000 single ``log_metric``
calls, three times, and seeding 100,000 runs into each store).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import Any

import report  # bench/ is on sys.path: Python puts the script's directory there
from groups import GROUPS, Group, selection
from results import ScenarioResult
from timing import Command, CpuMonitor, Stats, load_average, time_interleaved, warm_up
from tools import BENCH_DIR, Versions, base_env, source_fingerprint, versions

WORK = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "RESULTS.md"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def python_floor(reps: int) -> Stats:
    """What starting the interpreter and doing nothing costs here."""
    argv = [sys.executable, "-c", "pass"]
    env = base_env()
    warm_up(argv, BENCH_DIR, env)
    [floor] = time_interleaved([Command(argv, BENCH_DIR)], env, reps)
    return floor


def run_scenarios(
    group: Group, tools: Any, chosen: set[int], reps: int, heavy_reps: int
) -> list[ScenarioResult]:
    """Run the chosen scenarios in order, always deleting the scratch directory after."""
    shutil.rmtree(WORK, ignore_errors=True)
    results = []
    try:
        for number, scenario, heavy in group.scenarios:
            if number not in chosen:
                continue
            label = f"{group.text.prefix}{number}"
            print(f"scenario {label}: {scenario.__name__} ...", flush=True)
            started = time.monotonic()
            work = WORK / f"{group.key}-{number}"
            results.append(scenario(tools, work, heavy_reps if heavy else reps))
            print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    return results


def run_group(
    group: Group, chosen: set[int], info_versions: Versions, reps: int, heavy_reps: int
) -> tuple[list[ScenarioResult], report.RunInfo]:
    """Set the group's tools up, run its chosen scenarios, and say how the run went."""
    tools, peer_version = group.setup()
    print(f"VERSION {group.text.peer.lower()} {peer_version}", flush=True)
    source_before = source_fingerprint()
    load_before = load_average()
    cpu = CpuMonitor()
    started, clock = datetime.now(UTC), time.monotonic()
    floor = python_floor(reps) if group.floor else None
    results = run_scenarios(group, tools, chosen, reps, heavy_reps)
    source_changed = source_fingerprint() != source_before
    if source_changed:
        print("WARNING: Conveyor's source changed during the run; figures may mix versions")
    info = report.RunInfo(
        versions=info_versions,
        peer_version=peer_version,
        repetitions=group.repetitions(reps, heavy_reps),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        duration_s=time.monotonic() - clock,
        cpu=cpu.shares(),
        load_before=load_before,
        python_floor=floor,
        source_changed=source_changed,
        bytecode_was_off=bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
    )
    return results, info


def main() -> int:
    reps = _env_int("BENCH_REPS", 5)
    heavy_reps = _env_int("BENCH_HEAVY_REPS", min(3, reps))
    chosen = selection(os.environ.get("BENCH_ONLY", ""))
    if not chosen:
        return 0  # BENCH_ONLY=quality: bench/quality.py does it
    info_versions = versions()
    print("\n".join(report.version_lines(info_versions)), flush=True)

    blocks: dict[str, str] = {}
    for group in GROUPS:
        if group.key not in chosen:
            continue
        results, info = run_group(group, chosen[group.key], info_versions, reps, heavy_reps)
        print()
        print(report.terminal_table(results, group.text))
        print()
        if chosen[group.key] == group.numbers():
            blocks[group.key] = report.group_block(results, info, group.text)

    if not blocks:
        print("(BENCH_ONLY chose single scenarios: RESULTS.md left as it was)")
        return 0
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    merged = {**report.blocks_in(old), **blocks}
    RESULTS.write_text(
        report.document(info_versions, merged, [g.text for g in GROUPS]), encoding="utf-8"
    )
    print(f"wrote {RESULTS.relative_to(BENCH_DIR.parent)} ({', '.join(blocks)} block(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
