"""Scenario M4: searching runs by a metric filter and a metric order, MLflow vs Conveyor.

Both stores are seeded with the same synthetic runs (``drivers/common.py``), once at the
size the target names (100,000 runs) and once at a size where MLflow answers in seconds
(10,000), so that both tools can be repeated like for like there and the growth with
the number of runs shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import tracking_diagnosis as diagnosis
from drivers import common
from results import ScenarioResult, all_of, conveyor_under, faster_by
from timing import stats_of
from tracking_scenarios import Reports, Side, compare, measure, prepared, report_of, rm
from tracking_tools import Drivers

MLFLOW_PLAN = (
    "Why MLflow is slow here: the SQL that MLflow 3.17.2 emits for this search joins the "
    "filter's `latest_metrics` rows, then LEFT OUTER JOINs a subquery of every run's "
    "`metrics.m1` row for the order, under `SELECT DISTINCT`. SQLite (3.40.1) materializes "
    "that subquery and, by `EXPLAIN QUERY PLAN`, scans it once per matching run (`SCAN "
    "anon_1 LEFT-JOIN`): ~N/2 x N row visits, so the time grows with the square of the "
    "number of runs (upstream: mlflow/mlflow#2730, #15231)."
)


@dataclass(frozen=True)
class Seeded:
    """Both stores holding ``runs`` synthetic runs, and what seeding them took."""

    runs: int
    mlflow: Path
    conveyor: Path
    seconds: dict[str, float]
    megabytes: dict[str, float]


def search(drivers: Drivers, work: Path, reps: int) -> ScenarioResult:
    """Search runs with a metric filter and a metric order, 20 results, over seeded runs.

    Seeded (untimed) with the same synthetic runs in both stores, each with params p0..p9
    and metrics m0..m9 (uniform in [0, 1)), through each tool's fastest bulk path: MLflow
    by SQL inserts into its own tables (``runs``, ``params``, ``metrics``,
    ``latest_metrics``: what ``create_run`` + ``log_batch`` write) with ``sqlite3``
    executemany, 5,000 runs per transaction, since seeding through ``log_batch`` costs
    ~25 ms per run (~40 min for 100,000); Conveyor by SQLAlchemy Core executemany into
    its tables (``runs``, ``params``, ``latest_metrics``, ``metrics``), 5,000 runs per
    transaction, as ``bench/search_bench.py`` does. Neither database is ``ANALYZE``-d.

    Timed, in each fresh process after one unrelated read: the first search, and (except
    MLflow over 100,000 runs, see the notes) a second identical one. MLflow:
    ``MlflowClient().search_runs(["0"], filter_string="metrics.m0 > 0.5",
    order_by=["metrics.m1 DESC"], max_results=20)``; Conveyor: the call named in the notes.
    Both return full run objects (params, metrics, tags).
    """
    large = _env_count("BENCH_SEARCH_RUNS", common.SEARCH_RUNS)
    small = min(common.SEARCH_RUNS_SMALL, large)
    mlflow_reps = _env_count("BENCH_MLFLOW_SEARCH_REPS", 1)

    big = _seed(drivers, work / "large", large)
    [c_big] = measure(drivers, reps, Side(drivers.conveyor("search", big.conveyor), big.conveyor))
    [m_big] = measure(
        drivers, mlflow_reps, Side(drivers.mlflow("search", big.mlflow, "0"), big.mlflow)
    )
    rm(work / "large")
    few = _seed(drivers, work / "small", small)
    m_few, c_few = measure(
        drivers,
        reps,
        Side(drivers.mlflow("search", few.mlflow), few.mlflow),
        Side(drivers.conveyor("search", few.conveyor), few.conveyor),
    )
    rm(work)

    target = all_of(conveyor_under(0.2, "Conveyor < 200 ms"), faster_by(20))
    at_small = f"{small:,} runs"
    at_large = f"{large:,} runs"
    headline = compare(
        c_big, f"first search, {at_large}", m_big, f"first search_runs, {at_large}", target
    )
    return ScenarioResult(
        4,
        f"Search with a metric filter and order over {large:,} runs",
        search.__doc__ or "",
        (
            headline,
            compare(c_few, f"first search, {at_small}", m_few, f"first search_runs, {at_small}"),
            compare(
                c_few,
                f"second search, {at_small}",
                m_few,
                f"second search_runs, {at_small}",
                key="again_s",
            ),
        ),
        notes=_notes(big, few, (m_big, c_big), (m_few, c_few), mlflow_reps)
        + (() if headline.passed else (diagnosis.SEARCH,)),
    )


def _seed(drivers: Drivers, work: Path, runs: int) -> Seeded:
    """Both stores created by their tools, then seeded with ``runs`` runs (untimed)."""
    m_dir, c_dir = prepared(drivers, work)
    seconds = {
        "MLflow": report_of(drivers.mlflow("seed", m_dir, str(runs)), m_dir, drivers),
        "Conveyor": report_of(drivers.conveyor("seed", c_dir, str(runs)), c_dir, drivers),
    }
    return Seeded(
        runs,
        m_dir,
        c_dir,
        {name: float(report["seconds"]) for name, report in seconds.items()},
        {"MLflow": _megabytes(m_dir), "Conveyor": _megabytes(c_dir)},
    )


def _notes(
    big: Seeded,
    few: Seeded,
    at_big: tuple[Reports, Reports],
    at_few: tuple[Reports, Reports],
    mlflow_reps: int,
) -> tuple[str, ...]:
    (m_big, c_big), (m_few, _) = at_big, at_few
    growth = stats_of(m_big).median / stats_of(m_few).median
    again = stats_of(c_big, "again_s").median
    return (
        f"Conveyor's search call: `{c_big[0]['api']}`.",
        _agreement(at_big, at_few),
        f"MLflow over {big.runs:,} runs: {mlflow_reps} repetition(s) of the first search "
        "only (`BENCH_MLFLOW_SEARCH_REPS`), because one search takes minutes there and "
        f"three would take the MLflow group past its 10-minute budget. Over {few.runs:,} "
        "runs both tools have the full repetitions and a second search. MLflow's time grew "
        f"{growth:.0f}× from {few.runs:,} to {big.runs:,} runs ({big.runs / few.runs:.0f}× "
        "the runs).",
        f"Conveyor's second search over {big.runs:,} runs in the same process: "
        f"{again * 1e3:.1f} ms (median of {len(c_big)}).",
        MLFLOW_PLAN,
        *(
            f"Seeding {s.runs:,} runs took {s.seconds['MLflow']:.0f} s for MLflow (SQL) and "
            f"{s.seconds['Conveyor']:.0f} s for Conveyor (SQLAlchemy Core); the databases "
            f"held {s.megabytes['MLflow']:,.0f} MB and {s.megabytes['Conveyor']:,.0f} MB."
            for s in (big, few)
        ),
    )


def _agreement(*pairs: tuple[Reports, Reports]) -> str:
    """Whether, at each size, every process of both tools found the same 20 runs in order."""
    if all(len({tuple(r["ids"]) for r in m + c}) == 1 for m, c in pairs):
        return (
            "Both tools returned the same 20 run ids, in the same order, in every "
            "repetition at each size."
        )
    return "**The tools returned different runs**: the figures do not compare the same answer."


def _megabytes(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6


def _env_count(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name} must be a positive integer, not {value!r}")
    return int(value)
