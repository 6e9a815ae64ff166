"""The run store's contract, one suite run against every backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from conveyor.errors import ConfigError, ConflictError, NotFoundError, StoreError
from conveyor.store import Store, open_store
from conveyor.store.engine import make_engine
from conveyor.store.entities import CacheEntry, NewRun, StageRun
from conveyor.store.migrate import HEAD, current_revision
from conveyor.store.tables import MetricRow, ParamRow, StageCacheRow, TagRow

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
DIGEST = "ab" * 32


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def new_run(run_id: str, started_at: datetime = T0, **fields: Any) -> NewRun:
    return NewRun(id=run_id, started_at=started_at, project="demo", trigger="cli", **fields)


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- opening and migrating -------------------------------------------------------------


def test_open_store_migrates_an_empty_database(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) is None
    finally:
        engine.dispose()

    store = open_store(store_url)
    try:
        assert current_revision(store.engine) == HEAD
        tables = set(inspect(store.engine).get_table_names())
        assert {"runs", "stage_runs", "params", "metrics", "stage_cache"} <= tables
    finally:
        store.close()


def test_opening_a_migrated_database_runs_no_migration_and_keeps_data(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = open_store(store_url)
    first.runs.create(new_run("0123456789ab"))
    first.close()

    def no_migration(*args: object, **kwargs: object) -> None:
        raise AssertionError("alembic upgrade ran on an up-to-date database")

    monkeypatch.setattr("alembic.command.upgrade", no_migration)
    second = open_store(store_url)
    try:
        assert second.runs.get("0123456789ab").status == "running"
    finally:
        second.close()


def test_an_unreachable_server_is_a_store_error_that_hides_the_password() -> None:
    with pytest.raises(StoreError, match="not reachable") as info:
        open_store("postgresql://ada:s3cret@127.0.0.1:1/conveyor")

    assert "ada:***@127.0.0.1:1" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_a_store_error_says_what_failed_without_the_sql_or_its_values(store: Store) -> None:
    store.runs.create(new_run("0123456789ab", user="ada-secret-user"))

    with pytest.raises(StoreError) as info:
        store.runs.create(new_run("0123456789ab", user="ada-secret-user"))

    message = str(info.value)
    assert "constraint" in message
    assert "INSERT" not in message
    assert "[SQL" not in message
    assert "ada-secret-user" not in message
    assert "parameters" not in message
    assert info.value.__cause__ is not None  # the full error stays there for debugging


def test_a_table_dropped_by_hand_is_not_reported_as_an_unreachable_server(
    store: Store,
) -> None:
    store.runs.create(new_run("0123456789ab"))
    with store.engine.begin() as conn:
        conn.execute(TagRow.__table__.delete())
        TagRow.__table__.drop(conn)

    with pytest.raises(StoreError, match="tags") as info:
        store.runs.set_tags("0123456789ab", {"team": "risk"})

    assert "not reachable" not in str(info.value)


def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="is not a database URL"):
        open_store("not a url")


# --- get by id and prefix ----------------------------------------------------------------


def test_a_created_run_is_found_by_full_id_and_by_unique_prefix(store: Store) -> None:
    store.runs.create(
        new_run(
            "c0ffee000001",
            user="ada",
            git_commit="f" * 40,
            git_branch="main",
            git_dirty=True,
            targets=("train", "evaluate"),
        )
    )
    store.runs.create(new_run("d00d00000002"))

    run = store.runs.get("c0ffee000001")
    assert run == store.runs.get("c0f")
    assert run.id == "c0ffee000001"
    assert run.status == "running"
    assert run.started_at == T0
    assert run.ended_at is None
    assert run.duration_s is None
    assert (run.project, run.trigger, run.user) == ("demo", "cli", "ada")
    assert (run.git_commit, run.git_branch, run.git_dirty) == ("f" * 40, "main", True)
    assert run.targets == ("train", "evaluate")
    assert (run.params, run.metrics, run.stages) == ({}, {}, ())


def test_optional_run_fields_come_back_as_none_and_false_stays_false(store: Store) -> None:
    store.runs.create(new_run("0000000000aa"))
    store.runs.create(new_run("0000000000bb", git_dirty=False))

    run = store.runs.get("0000000000aa")

    assert (run.user, run.git_commit, run.git_branch, run.git_dirty) == (None, None, None, None)
    assert run.targets == ()
    assert store.runs.get("0000000000bb").git_dirty is False


def test_an_ambiguous_prefix_is_a_conflict_naming_the_candidates(store: Store) -> None:
    store.runs.create(new_run("abc000000001"))
    store.runs.create(new_run("abc000000002"))

    with pytest.raises(ConflictError, match="matches several runs") as info:
        store.runs.get("abc")

    assert "abc000000001" in str(info.value)
    assert "abc000000002" in str(info.value)
    assert store.runs.get("abc000000002").id == "abc000000002"


def test_an_unknown_id_is_not_found_and_the_hint_lists_recent_runs(store: Store) -> None:
    store.runs.create(new_run("abc000000001", T0))
    store.runs.create(new_run("abc000000002", T0 + timedelta(minutes=1)))

    for wanted in ["ffffffffffff", "fff", "not-a-run-id", "ABC000000001", ""]:
        with pytest.raises(NotFoundError, match="no run with id") as info:
            store.runs.get(wanted)
        assert "abc000000002, abc000000001" in (info.value.hint or ""), wanted  # newest first


def test_the_hint_says_so_when_no_run_exists_yet(store: Store) -> None:
    with pytest.raises(NotFoundError) as info:
        store.runs.get("abc")

    assert "no run is recorded yet" in (info.value.hint or "")


# --- stages and finishing ----------------------------------------------------------------


def test_record_stage_and_finish_round_trip_every_field(store: Store) -> None:
    store.runs.create(new_run("feed00000001"))
    full = StageRun(
        stage="train",
        status="failed",
        key="12" * 32,
        started_at=T0 + timedelta(seconds=1),
        duration_s=12.375,
        exit_code=2,
        message="Traceback …\nValueError: ünïcode",
        stdout_digest=DIGEST,
        stderr_digest="cd" * 32,
        deps={
            "data/train.csv": {"kind": "file", "digest": DIGEST, "size": 1024},
            "params": {"train.C": 0.5, "train.tags": ["a", None, True], "nested": {"x": {}}},
        },
        outs={"models/model.skops": {"kind": "file", "digest": DIGEST, "size": 3}},
    )
    bare = StageRun(stage="evaluate", status="skipped")
    store.runs.record_stage("feed00000001", full)
    store.runs.record_stage("feed00000001", bare)
    store.runs.finish("feed00000001", "failed", T0 + timedelta(seconds=90))

    run = store.runs.get("feed00000001")

    assert run.stages == (full, bare)
    assert run.status == "failed"
    assert run.ended_at == T0 + timedelta(seconds=90)
    assert run.duration_s == 90.0


def test_times_come_back_as_utc_aware_datetimes(store: Store) -> None:
    store.runs.create(new_run("feed00000002"))
    store.runs.record_stage("feed00000002", StageRun("train", "ran", started_at=T0))
    store.runs.finish("feed00000002", "success", T0 + timedelta(seconds=1))

    run = store.runs.get("feed00000002")

    for moment in (run.started_at, run.ended_at, run.stages[0].started_at):
        assert moment is not None
        assert moment.utcoffset() == timedelta(0)


def test_times_in_another_zone_keep_their_instant(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    store.runs.create(new_run("feed00000003", T0.astimezone(paris)))
    store.runs.record_stage("feed00000003", StageRun("train", "ran", started_at=T0))
    store.runs.finish("feed00000003", "success", (T0 + timedelta(hours=1)).astimezone(paris))

    run = store.runs.get("feed00000003")

    assert run.started_at == T0
    assert run.ended_at == T0 + timedelta(hours=1)
    assert run.duration_s == 3600.0


# --- params ------------------------------------------------------------------------------


def test_params_round_trip_as_json_values_mappings_as_dotted_keys(store: Store) -> None:
    store.runs.create(new_run("face00000001"))
    params = {
        "train.C": 0.5,
        "train.n": 3,
        "train.name": "ridge",
        "train.flags": [1, "two", None, False],
        "train.grid": {"b": [1, 2], "a": {"c": None}},
        "train.none": None,
    }
    store.runs.log_params("face00000001", params)

    flattened = {k: v for k, v in params.items() if k != "train.grid"}
    assert store.runs.get("face00000001").params == {
        **flattened,
        "train.grid.b": [1, 2],
        "train.grid.a.c": None,
    }


def test_what_a_stage_logged_is_told_apart_from_the_rest_of_the_run(store: Store) -> None:
    store.runs.create(new_run("face00000003"))
    store.runs.log_params("face00000003", {"train.C": 1.0})  # declared by the runner
    store.runs.log_params("face00000003", {"lr": 0.1}, stage="train")
    store.runs.log_params("face00000003", {"k": 5}, stage="eval")
    values = [("loss", 0.5, 0, T0), ("loss", 0.25, 1, T0), ("auc", math.nan, 0, T0)]
    store.runs.log_metric_batch("face00000003", values, stage="train")
    store.runs.log_metric_batch("face00000003", [("f1", 0.8, 0, T0)], stage="eval")

    params, metrics = store.runs.logged_by_stage("face00000003", "train")

    assert params == {"lr": 0.1}
    assert [(k, v, step) for k, v, step, _ in metrics][:2] == [("loss", 0.5, 0), ("loss", 0.25, 1)]
    assert math.isnan(metrics[2][1])


def test_logging_the_same_param_value_again_is_fine(store: Store) -> None:
    store.runs.create(new_run("face00000002"))
    store.runs.log_params("face00000002", {"grid": {"a": 1, "b": 2}, "C": 0.5})
    store.runs.log_params("face00000002", {"C": 0.5, "grid": {"b": 2, "a": 1}, "seed": 7})

    assert store.runs.get("face00000002").params == {
        "grid.a": 1,
        "grid.b": 2,
        "C": 0.5,
        "seed": 7,
    }


def test_changing_a_param_is_a_conflict_and_nothing_of_that_call_is_kept(store: Store) -> None:
    store.runs.create(new_run("face00000003"))
    store.runs.log_params("face00000003", {"C": 0.5})

    with pytest.raises(ConflictError, match=r"param 'C' .* already 0\.5.*1\.0"):
        store.runs.log_params("face00000003", {"seed": 7, "C": 1.0})

    assert store.runs.get("face00000003").params == {"C": 0.5}
    assert count(store, ParamRow) == 1


# --- metrics -----------------------------------------------------------------------------


def test_nan_and_infinities_are_stored_as_such(store: Store) -> None:
    store.runs.create(new_run("beef00000001"))
    store.runs.log_metrics(
        "beef00000001", {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "zero": -0.0}
    )

    metrics = store.runs.get("beef00000001").metrics

    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf
    assert metrics["-inf"] == -math.inf
    assert metrics["zero"] == 0.0
    assert set(metrics) == {"nan", "inf", "-inf", "zero"}


def test_the_latest_step_wins_whatever_the_order_of_logging(store: Store) -> None:
    store.runs.create(new_run("beef00000002"))
    store.runs.log_metrics("beef00000002", {"loss": 3.0, "acc": 0.1}, step=0)
    store.runs.log_metrics("beef00000002", {"loss": 1.0}, step=2)
    store.runs.log_metrics("beef00000002", {"loss": 2.0, "acc": 0.9}, step=1)

    assert store.runs.get("beef00000002").metrics == {"loss": 1.0, "acc": 0.9}
    assert count(store, MetricRow) == 5  # the history is kept, not overwritten


def test_within_one_step_the_last_value_logged_wins(store: Store) -> None:
    store.runs.create(new_run("beef00000003"))
    store.runs.log_metrics("beef00000003", {"loss": 3.0}, step=4)
    store.runs.log_metrics("beef00000003", {"loss": math.nan}, step=4)
    store.runs.log_metrics("beef00000003", {"loss": 0.25}, step=4)

    assert store.runs.get("beef00000003").metrics == {"loss": 0.25}


def test_metrics_of_one_run_do_not_leak_into_another(store: Store) -> None:
    store.runs.create(new_run("beef00000004"))
    store.runs.create(new_run("beef00000005"))
    store.runs.log_metrics("beef00000004", {"loss": 1.0})
    store.runs.log_params("beef00000004", {"C": 1})

    other = store.runs.get("beef00000005")

    assert (other.metrics, other.params) == ({}, {})


# --- find --------------------------------------------------------------------------------


@pytest.fixture
def history(store: Store) -> Store:
    """Five runs an hour apart, inserted out of order, with various statuses and stages."""
    plan = [
        ("aaaa00000003", 3, "failed", ["prepare", "train"]),
        ("aaaa00000001", 1, "success", ["prepare"]),
        ("aaaa00000005", 5, "running", []),
        ("aaaa00000002", 2, "success", ["prepare", "train"]),
        ("aaaa00000004", 4, "success", ["train"]),
    ]
    for run_id, hour, status, stages in plan:
        store.runs.create(new_run(run_id, T0 + timedelta(hours=hour)))
        for stage in stages:
            store.runs.record_stage(run_id, StageRun(stage, "ran"))
        if status != "running":
            store.runs.finish(run_id, status, T0 + timedelta(hours=hour, minutes=5))
    return store


def ids(runs: Any) -> list[str]:
    return [run.id[-1] for run in runs]


def test_find_returns_newest_first(history: Store) -> None:
    assert ids(history.runs.find()) == ["5", "4", "3", "2", "1"]


def test_find_filters_by_status(history: Store) -> None:
    assert ids(history.runs.find(status="success")) == ["4", "2", "1"]
    assert ids(history.runs.find(status="interrupted")) == []


def test_find_since_includes_runs_started_at_that_moment(history: Store) -> None:
    assert ids(history.runs.find(since=T0 + timedelta(hours=3))) == ["5", "4", "3"]


def test_find_since_understands_any_time_zone(history: Store) -> None:
    tokyo = timezone(timedelta(hours=9))

    assert ids(history.runs.find(since=(T0 + timedelta(hours=3)).astimezone(tokyo))) == [
        "5",
        "4",
        "3",
    ]


def test_find_filters_by_stage(history: Store) -> None:
    assert ids(history.runs.find(stage="train")) == ["4", "3", "2"]
    assert ids(history.runs.find(stage="deploy")) == []


def test_find_limit_keeps_the_newest(history: Store) -> None:
    assert ids(history.runs.find(limit=2)) == ["5", "4"]


def test_find_combines_filters(history: Store) -> None:
    found = history.runs.find(
        status="success", stage="prepare", since=T0 + timedelta(hours=2), limit=5
    )
    assert ids(found) == ["2"]
    assert [s.stage for s in found[0].stages] == ["prepare", "train"]


# --- the run cache -----------------------------------------------------------------------


def test_stage_cache_misses_return_none(store: Store) -> None:
    assert store.stage_cache.get("0" * 64) is None


def test_stage_cache_put_then_get(store: Store) -> None:
    entry = CacheEntry(
        key="1" * 64,
        stage="train",
        outs={"models/model.skops": {"kind": "file", "digest": DIGEST, "size": 3}},
        run_id="aaaa00000001",
        created_at=T0,
    )
    store.stage_cache.put(entry)

    assert store.stage_cache.get("1" * 64) == entry


def test_stage_cache_put_with_the_same_key_replaces_the_entry(store: Store) -> None:
    first = CacheEntry("2" * 64, "train", {"a": {"digest": DIGEST}}, "aaaa00000001", T0)
    second = CacheEntry("2" * 64, "train", {"b": {"digest": "cd" * 32}}, None, T0 + timedelta(1))
    store.stage_cache.put(first)
    store.stage_cache.put(second)

    assert store.stage_cache.get("2" * 64) == second
    assert count(store, StageCacheRow) == 1


# --- concurrent writers on SQLite --------------------------------------------------------

WORKERS = 4
WRITES = 40


def _log_metrics_worker(url: str, run_id: str, worker: int, start: Any, results: Any) -> None:
    """Log WRITES metrics, one transaction each, after every worker is ready."""
    try:
        store = open_store(url)
        try:
            start.wait(timeout=60)
            for step in range(WRITES):
                store.runs.log_metrics(run_id, {f"w{worker}.m{step}": float(step)}, step=step)
        finally:
            store.close()
        results.put((worker, None))
    except BaseException:
        start.abort()  # let the others stop waiting
        results.put((worker, traceback.format_exc()))


def test_concurrent_processes_logging_to_one_sqlite_file_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    store = open_store(url)
    store.runs.create(new_run("5a11e0000001"))
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS + 1)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_log_metrics_worker, args=(url, "5a11e0000001", n, start, results))
        for n in range(WORKERS)
    ]
    for process in workers:
        process.start()
    try:
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=120)  # broken when a worker failed; its traceback follows
        outcomes = dict(results.get(timeout=120) for _ in workers)
    finally:
        for process in workers:
            process.join(timeout=30)
    errors = {worker: error for worker, error in outcomes.items() if error}

    assert not errors, "\n".join(errors.values())
    assert [process.exitcode for process in workers] == [0] * WORKERS
    assert count(store, MetricRow) == WORKERS * WRITES
    metrics = store.runs.get("5a11e0000001").metrics
    assert metrics == {
        f"w{worker}.m{step}": float(step) for worker in range(WORKERS) for step in range(WRITES)
    }
    store.close()
