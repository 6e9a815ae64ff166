"""The benchmark's groups: Conveyor against DVC (pipelines), and against MLflow (tracking).

A group is a peer, the scenarios run against it, how to set the tools up, and the words
around its figures in RESULTS.md. ``BENCH_ONLY`` selects groups by ``key`` (``dvc``,
``mlflow``) or single scenarios by number (``1``..``5`` for DVC, ``m0``..``m5`` for MLflow).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import scenarios
import tracking_scenarios
import tracking_search
from report import GroupText, RunInfo
from results import ScenarioResult
from tools import dvc_version, find_tools
from tracking_tools import find_drivers, mlflow_version

Scenario = Callable[[Any, Path, int], ScenarioResult]


@dataclass(frozen=True)
class Group:
    """Scenarios against one peer: (number, function, uses the heavy repetition count)."""

    text: GroupText
    scenarios: tuple[tuple[int, Scenario, bool], ...]
    setup: Callable[[], tuple[Any, str]]  # the tools the scenarios take; the peer's version
    floor: bool  # time `python -c pass` too: the figures are whole processes

    @property
    def key(self) -> str:
        return self.text.key

    def numbers(self) -> set[int]:
        return {number for number, _, _ in self.scenarios}

    def repetitions(self, reps: int, heavy_reps: int) -> str:
        light = ", ".join(f"{self.text.prefix}{n}" for n, _, h in self.scenarios if not h)
        heavy = ", ".join(f"{self.text.prefix}{n}" for n, _, h in self.scenarios if h)
        return (
            f"{reps} (scenarios {light}; `BENCH_REPS`), "
            f"{heavy_reps} (scenarios {heavy}; `BENCH_HEAVY_REPS`)"
        )


def _dvc_setup() -> tuple[Any, str]:
    tools = find_tools()
    return tools, f"{dvc_version(tools)} (PyPI, own virtualenv `bench/.venvs/dvc`)"


def _mlflow_setup() -> tuple[Any, str]:
    drivers = find_drivers()
    return drivers, (
        f"{mlflow_version(drivers)} (PyPI `mlflow`, own virtualenv `bench/.venvs/mlflow`)"
    )


def _lost(info: RunInfo) -> str:
    """ "During this run ..." what CPU time the hypervisor and other processes took."""
    if info.cpu is None:
        return "the CPU time lost to others could not be measured"
    return (
        f"there was {info.cpu.steal:.1f} % of the machine's CPU time taken by the "
        f"hypervisor (steal) and {info.cpu.others:.1f} % used by other processes"
    )


def _bytecode(info: RunInfo) -> str:
    return (
        "; this machine sets `PYTHONDONTWRITEBYTECODE=1`, under which the editable "
        "install of Conveyor would recompile its modules on every command (~10–15 ms) "
        "while the peer's were compiled by pip."
        if info.bytecode_was_off
        else "."
    )


def dvc_notes(info: RunInfo) -> list[str]:
    return [
        "Noise: this is a 2-vCPU virtual machine shared with other work. During this "
        f"run {_lost(info)}; peer-baselines.md saw 16–22 % steal under load. Both tools "
        "suffer alike, alternating within each scenario, but sub-second figures move by "
        "tens of percent between runs: compare medians, and read the [min–max] spread "
        "before trusting a small difference.",
        "Both tools ran on the same machine, in the same run, on identical pipelines and "
        "data, in separate fresh git repositories under `bench/.work/` (deleted afterwards).",
        "DVC: installed from PyPI by name, default settings (cache type reflink,copy, "
        "which is a copy on ext4), `DO_NOT_TRACK=1`, `core.analytics false`, and "
        "`core.check_update false` because its update check would call out to the "
        "internet. peer-baselines.md §4 timed DVC separately on this machine type; the "
        "ratios here use only figures from this run.",
        "Conveyor trusts a stat-cache entry only if the file was modified at least 1 s "
        "before it was hashed (git's racy-clean rule), so the scenarios let files age "
        "1.2 s before the untimed runs that fill the cache.",
        "The stage commands run `python` from the benchmark's virtualenv for both tools.",
        "Both tools' bytecode is cached in `bench/.venvs/pycache` (`PYTHONPYCACHEPREFIX`)"
        + _bytecode(info),
        "No test asserts on these timings; PASS/FAIL only compares with the targets.",
    ]


def mlflow_notes(info: RunInfo) -> list[str]:
    return [
        "Noise: a 2-vCPU virtual machine shared with other work. During this run "
        f"{_lost(info)}. The tools alternate within each scenario, so load hits both; "
        "MLflow's per-call figures are bound by SQLite commit latency on this virtual disk "
        "and move by tens of percent between runs (peer-baselines.md §2 saw 49–65 s for "
        "scenario M1's MLflow side).",
        "Each figure is timed inside a fresh process of a driver script "
        "(`bench/drivers/mlflow_driver.py` in MLflow's virtualenv, "
        "`bench/drivers/conveyor_driver.py` in Conveyor's `.venv`) around the operation "
        "only; interpreter start-up, imports and the first store open are outside it "
        "(M0 shows what they cost). Both drivers open the store and read once before the "
        "timed window.",
        "Both stores are SQLite files under `bench/.work/` (deleted afterwards), each "
        "created by its own tool with its defaults: MLflow's SQLAlchemy store uses SQLite's "
        "rollback journal with `synchronous=FULL` (an fsync per commit); Conveyor's uses "
        "WAL with `synchronous=NORMAL` (no fsync per commit; a power cut can lose the last "
        "transactions, never corrupt the file). Part of every per-commit ratio is that "
        "choice.",
        "MLflow: installed from PyPI by name, telemetry off (`MLFLOW_ENABLE_TELEMETRY=false`, "
        "`DO_NOT_TRACK=1`), no other setting; its artifact root is the scratch directory. "
        "peer-baselines.md §2 measured MLflow 3.17.2 alone on this machine type (M1 64.3 s, "
        "M2 1.33 s, M3 2.56 s, M5 1.49 s); the ratios here use only figures from this run.",
        "Both SDKs record the git state of the work tree on each run: the scratch "
        "directories are inside this repository, as a user's scripts are inside theirs.",
        "Both tools' bytecode is cached in `bench/.venvs/pycache` (`PYTHONPYCACHEPREFIX`)"
        + _bytecode(info),
        "No test asserts on these timings; PASS/FAIL only compares with the targets.",
    ]


DVC = Group(
    text=GroupText(
        key="dvc",
        title="Conveyor vs DVC: pipelines",
        peer="DVC",
        prefix="",
        figures="""
            Figures are **median [min–max]** wall time over the repetitions, each
            repetition a fresh process of the CLI, timed from outside (start-up and imports
            included). *DVC/Conv* is DVC's median over Conveyor's: how many times faster
            Conveyor is. MB/s are decimal (1 GiB = 1,073.7 MB), at the median time.
        """,
        notes=dvc_notes,
    ),
    scenarios=(
        (1, scenarios.noop_run, False),
        (2, scenarios.status_many_files, False),
        (3, scenarios.hash_big_file, True),
        (4, scenarios.parallel_stages, True),
        (5, scenarios.help_text, False),
    ),
    setup=_dvc_setup,
    floor=True,
)

MLFLOW = Group(
    text=GroupText(
        key="mlflow",
        title="Conveyor vs MLflow: tracking and registry (SQLite)",
        peer="MLflow",
        prefix="M",
        figures="""
            Figures are **median [min–max]** over the repetitions, each repetition a fresh
            process per tool, timed inside the process around the operation (see the
            notes). *MLflow/Conv* is MLflow's median over Conveyor's: how many times faster
            Conveyor is.
        """,
        notes=mlflow_notes,
    ),
    scenarios=(
        (0, tracking_scenarios.startup, False),
        (1, tracking_scenarios.log_metric, True),
        (2, tracking_scenarios.log_batch, False),
        (3, tracking_scenarios.many_runs, False),
        (4, tracking_search.search, True),
        (5, tracking_scenarios.register, False),
    ),
    setup=_mlflow_setup,
    floor=False,
)

GROUPS = (DVC, MLFLOW)


def selection(only: str) -> dict[str, set[int]]:
    """What ``BENCH_ONLY`` asks for, by group key: ``""`` is everything.

    ``dvc`` / ``mlflow`` name whole groups; ``1``..``5`` DVC scenarios; ``m0``..``m5``
    MLflow scenarios; comma-separated.
    """
    chosen: dict[str, set[int]] = {}
    tokens = [t.strip().lower() for t in only.split(",") if t.strip()]
    others = ("quality", "serving", "canary", "drift")  # the benches outside run.py
    if tokens and all(t in others for t in tokens):
        return {}
    for token in tokens:
        if token in others:
            continue  # measured by the scripts `make bench` runs next
        group = next((g for g in GROUPS if token == g.key), None)
        if group is not None:
            chosen.setdefault(group.key, set()).update(group.numbers())
            continue
        group = next(
            (g for g in GROUPS if g.text.prefix and token.startswith(g.text.prefix.lower())),
            DVC,
        )
        number = token[len(group.text.prefix) :]
        if not number.isdigit() or int(number) not in group.numbers():
            raise SystemExit(
                f"BENCH_ONLY: {token!r} is not a group "
                "(dvc, mlflow, quality, serving, canary, drift) "
                "or a scenario (1..5, m0..m5)"
            )
        chosen.setdefault(group.key, set()).add(int(number))
    return chosen or {g.key: g.numbers() for g in GROUPS}
