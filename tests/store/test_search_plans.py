"""The plans SQLite picks for a search page, and the per-dialect SQL behind them.

Speed is measured by ``bench/search_bench.py``, not here; these tests pin the plan shapes
that make it fast, so that a change which loses them fails at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from conveyor.search import RUN_ATTRIBUTES, parse_filter, parse_order_by
from conveyor.store import Store, open_store
from conveyor.store import search as store_search
from conveyor.store.portable import bytewise, like, unindexed
from conveyor.store.search import filter_runs, order_runs, page_runs
from conveyor.store.tables import RunRow

PROBE = "USING INDEX sqlite_autoindex_latest_metrics_1 (run_id=? AND key=?)"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'plans.db'}")
    try:
        yield opened
    finally:
        opened.close()


def page_plans(store: Store, where: str, order: str | None) -> list[list[str]]:
    """SQLite's plan for each statement one ``page_runs`` call runs, in order."""
    executed: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.startswith("SELECT"):
            executed.append((statement, parameters))

    conditions = parse_filter(where, RUN_ATTRIBUTES)
    order_by = None if order is None else parse_order_by(order, RUN_ATTRIBUTES)
    event.listen(store.engine, "before_cursor_execute", record)
    try:
        with Session(store.engine) as session:
            page_runs(session, conditions, order_by, limit=20)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    with store.engine.connect() as conn:
        return [
            [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            for sql, params in executed
        ]


def test_a_common_filter_walks_the_order_index_and_probes_the_rest(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_search, "SELECTIVE", 0)  # as if every condition matched many
    where = "metrics.m0 > 0.5 and params.p = 'x' and status = 'finished'"
    # an empty store: the walk finds no run, so the runs without m1 are queried after it
    *counts, walk, _lacking = page_plans(store, where, "metrics.m1 DESC")
    assert len(counts) == 3
    assert all("COVERING INDEX" in " ".join(plan) for plan in counts), counts
    assert walk[0].startswith("SEARCH latest_metrics_1 USING INDEX ix_latest_metrics_key_value")
    assert any(PROBE in step for step in walk), walk
    assert "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY" in walk
    assert not any("ix_runs_status" in step for step in walk), walk


def test_a_rare_filter_drives_the_query_from_its_index(store: Store) -> None:
    *_counts, driven = page_plans(store, "metrics.m0 > 0.999", "metrics.m1 DESC")
    assert "LIST SUBQUERY 1" in driven
    assert any("ix_latest_metrics_key_value (key=? AND value>?)" in step for step in driven)
    assert any(PROBE in step and "LEFT-JOIN" in step for step in driven), driven


def test_newest_first_walks_the_started_at_index(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_search, "SELECTIVE", 0)
    *_counts, plain = page_plans(store, "metrics.m0 > 0.5", None)
    assert plain[0] == "SCAN runs USING INDEX ix_runs_started_at"


def test_the_one_statement_probes_primary_keys_and_never_scans_metrics(store: Store) -> None:
    conditions = parse_filter("metrics.m0 > 0.5 and params.p = 'x'", RUN_ATTRIBUTES)
    order = parse_order_by("metrics.m1 DESC", RUN_ATTRIBUTES)
    query = order_runs(filter_runs(select(RunRow), conditions), order).limit(20)
    compiled = query.compile(store.engine)
    with store.engine.connect() as conn:
        explained = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}",
            tuple(compiled.params[name] for name in compiled.positiontup or ()),
        )
        plan = [row[3] for row in explained]
    assert sum(PROBE in step for step in plan) == 2, plan
    assert any("sqlite_autoindex_params_1 (run_id=? AND key=?)" in step for step in plan), plan
    assert not any(step.startswith(("SCAN latest_metrics", "SCAN params")) for step in plan)


# --- the portable constructs, per dialect ------------------------------------------------


def sql(element: Any, dialect: Any) -> str:
    return str(element.compile(dialect=dialect))


def test_like_is_glob_on_sqlite_and_like_with_an_escape_elsewhere() -> None:
    assert sql(like(RunRow.name, "a%"), sqlite.dialect()) == "runs.name GLOB ?"
    assert sql(like(RunRow.name, "a%"), postgresql.dialect()) == (
        "runs.name LIKE %(param_1)s::VARCHAR ESCAPE '\\'"
    )


def test_bytewise_collates_c_on_postgresql_only() -> None:
    assert sql(bytewise(RunRow.name), postgresql.dialect()) == 'runs.name COLLATE "C"'
    assert sql(bytewise(RunRow.name), sqlite.dialect()) == "runs.name"


def test_unindexed_is_a_unary_plus_on_sqlite_only_and_keeps_the_type() -> None:
    assert sql(unindexed(RunRow.status), sqlite.dialect()) == "+runs.status"
    assert sql(unindexed(RunRow.status), postgresql.dialect()) == "runs.status"
    assert unindexed(RunRow.started_at).type.__class__ is RunRow.started_at.type.__class__
