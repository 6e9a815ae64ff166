"""Time a run search over 100,000 runs on SQLite: the issue's target is under 200 ms.

Usage, from the repository root::

    .venv/bin/python bench/search_bench.py                 # seed a temp file, time, delete
    .venv/bin/python bench/search_bench.py --db /tmp/s.db  # keep (and reuse) the database

Seeds ``--runs`` runs with 10 params and 10 metrics each (a row per metric in ``metrics``
and in ``latest_metrics``, as logging writes them) through SQLAlchemy Core executemany in
chunks of 5,000 runs, then times, through the same code path the CLI takes (parse, build,
execute, load ``RunRow`` objects in a session)::

    --where "metrics.m0 > 0.5" --order-by "metrics.m1 DESC" --limit 20

with ``page_runs`` (the planned search), and prints the median of ``--repeat`` timings after
one warm-up, the statements it ran with SQLite's plan for each, the time the one unplanned
statement (``filter_runs`` + ``order_runs``) takes for the same rows, and the figure for
other shapes of search: rare filters, text order, an unindexed attribute, no filter, and
the slow case (conditions on different fields that each match many runs, together few).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, insert, select, text
from sqlalchemy.orm import Session

from conveyor.search import RUN_ATTRIBUTES, parse_filter, parse_order_by
from conveyor.store import open_store
from conveyor.store.search import filter_runs, order_runs, page_runs
from conveyor.store.tables import LatestMetricRow, MetricRow, ParamRow, RunRow

CHUNK = 5_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HEADLINE = ("metrics.m0 > 0.5", "metrics.m1 DESC")
OTHERS = (
    ("metrics.m0 > 0.5", "metrics.m1 ASC"),
    ("metrics.m0 > 0.999", "metrics.m1 DESC"),
    ("metrics.m0 > 0.98", "metrics.m1 DESC"),
    ("metrics.m0 > 0.5 and params.p3 = '7' and status = 'finished'", "metrics.m1 DESC"),
    ("metrics.m0 > 0.5", None),
    ("params.p3 = '7'", "params.p4 DESC"),
    ("git_commit LIKE 'abc%'", "metrics.m1 DESC"),
    ("", "metrics.m1 DESC"),
    ("", None),
    ("metrics.m0 > 0.5", "status"),
    ("metrics.m0 > 0.5 and metrics.m0 < 0.5005", "metrics.m1 DESC"),
    ("metrics.m0 > 0.9 and metrics.m2 > 0.9 and metrics.m3 > 0.9", "metrics.m1 DESC"),
)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "search.db"
        store = open_store(f"sqlite:///{path}")
        try:
            seed_if_needed(store.engine, args.runs)
            report(store.engine, args.repeat)
        finally:
            store.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--db", help="SQLite file to keep; reused when it holds the runs")
    return parser.parse_args()


def seed_if_needed(engine: Engine, runs: int) -> None:
    with Session(engine) as session:
        present = session.scalar(select(func.count()).select_from(RunRow))
    if present == runs:
        print(f"reusing {present:,} runs")
        return
    if present:
        raise SystemExit(f"the database holds {present:,} runs, not {runs:,}: use another --db")
    started = time.perf_counter()
    rng = random.Random(0)
    for first in range(0, runs, CHUNK):
        with engine.begin() as conn:
            for table, rows in chunk_rows(rng, first, min(first + CHUNK, runs)):
                conn.execute(insert(table), rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print(f"seeded {runs:,} runs in {time.perf_counter() - started:.1f} s")


def chunk_rows(rng: random.Random, first: int, last: int) -> Iterator[tuple[Any, list[Any]]]:
    runs, params, latest, history = [], [], [], []
    for index in range(first, last):
        run_id = f"{rng.getrandbits(48):012x}"
        started_at = T0 + timedelta(seconds=index)
        runs.append(run_row(run_id, started_at, rng))
        for p in range(10):
            value = str(rng.randint(0, 9))
            params.append({"run_id": run_id, "key": f"p{p}", "value": value, "text": value})
        for m in range(10):
            metric = {"run_id": run_id, "key": f"m{m}", "value": rng.random(), "step": 0}
            latest.append(metric)
            history.append({**metric, "logged_at": started_at})
    yield RunRow.__table__, runs
    yield ParamRow.__table__, params
    yield LatestMetricRow.__table__, latest
    yield MetricRow.__table__, history


def run_row(run_id: str, started_at: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "id": run_id,
        "status": rng.choice(["finished", "finished", "failed"]),
        "started_at": started_at,
        "ended_at": started_at + timedelta(minutes=5),
        "git_commit": f"{rng.getrandbits(160):040x}",
        "git_branch": "main",
        "git_dirty": False,
        "user": "bench",
        "trigger": "sdk",
        "project": "bench",
        "name": None,
        "kind": "script",
        "targets": {},
    }


def search(engine: Engine, where: str, order: str | None, *, planned: bool = True) -> list[Any]:
    """The search as the CLI runs it: parse, plan, execute, load 20 ``RunRow`` objects.

    ``planned=False`` runs the one statement of ``filter_runs`` + ``order_runs`` instead.
    """
    conditions = parse_filter(where, RUN_ATTRIBUTES)
    order_by = parse_order_by(order, RUN_ATTRIBUTES) if order else None
    with Session(engine) as session:
        if planned:
            return page_runs(session, conditions, order_by, limit=20)
        query = order_runs(filter_runs(select(RunRow), conditions), order_by).limit(20)
        return list(session.scalars(query))


def time_search(engine: Engine, where: str, order: str | None, repeat: int, **how: bool) -> float:
    search(engine, where, order, **how)  # warm-up: page cache, statement cache
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        search(engine, where, order, **how)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def plans(engine: Engine, where: str, order: str | None) -> list[str]:
    """Each statement one planned search runs, with SQLite's plan for it."""
    executed: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        executed.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        search(engine, where, order)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    lines = []
    with engine.connect() as conn:
        for statement, parameters in executed:
            lines.append(" ".join(statement.split())[:110] + " ...")
            explained = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            lines += [f"    {row[3]}" for row in explained]
    return lines


def report(engine: Engine, repeat: int) -> None:
    where, order = HEADLINE
    print(f"--where {where!r} --order-by {order!r} --limit 20")
    print("statements and plans:\n  " + "\n  ".join(plans(engine, where, order)))
    median = time_search(engine, where, order, repeat)
    verdict = "meets" if median < 200 else "MISSES"
    print(f"median of {repeat}: {median:.1f} ms ({verdict} the 200 ms target)")
    single = time_search(engine, where, order, repeat, planned=False)
    print(f"the same rows by the one unplanned statement: {single:.1f} ms")
    print("other searches (median, limit 20):")
    for where, order in OTHERS:
        median = time_search(engine, where, order, repeat)
        print(f"  {median:7.1f} ms  --where {where!r} --order-by {order!r}")


if __name__ == "__main__":
    main()
