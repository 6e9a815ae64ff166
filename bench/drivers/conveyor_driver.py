"""Conveyor's side of the tracking benchmark; run by the repository's ``.venv/bin/python``.

``python conveyor_driver.py SCENARIO DIR [ARG]`` works on ``DIR/conveyor.db`` (SQLite),
artifacts in ``DIR/store``, ``DIR`` as the project root: the settings a user gives with
``CONVEYOR_DB_URL``, ``CONVEYOR_ARTIFACTS`` and ``CONVEYOR_PROJECT_ROOT``, set here before
Conveyor reads them. Every scenario opens the store and reads once through it before its
timed window, as the MLflow driver does. See ``common.py`` for the sizes and the report.
"""

from __future__ import annotations

import inspect
import json
import os
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    BATCH_SIZE,
    BATCHES,
    METRIC_CALLS,
    MODEL_NAME,
    RUNS,
    SEARCH_LIMIT,
    SEARCH_ORDER,
    SEARCH_REPEAT,
    SEARCH_WHERE,
    VERSIONS,
    Stopwatch,
    SyntheticRun,
    args,
    emit,
    metric_value,
    run_metrics,
    run_params,
    synthetic_runs,
)

CHUNK = 5_000  # seeded runs per transaction, as bench/search_bench.py does


def main() -> None:
    scenario, directory, extra = args()
    root = Path(directory).resolve()
    os.chdir(root)
    os.environ["CONVEYOR_DB_URL"] = db_url(root)
    os.environ["CONVEYOR_ARTIFACTS"] = str(root / "store")
    os.environ["CONVEYOR_PROJECT_ROOT"] = str(root)
    with Stopwatch() as imported:
        import conveyor  # noqa: F401
    SCENARIOS[scenario](imported.seconds, *extra)


def db_url(root: Path) -> str:
    return f"sqlite:///{root / 'conveyor.db'}"


def store() -> Any:
    """The store, opened (migrated the first time) and read once."""
    from conveyor.store import open_store

    opened = open_store(os.environ["CONVEYOR_DB_URL"])
    opened.registry.model_names()
    return opened


def init(_imported: float) -> None:
    """Create the schema (what a first use does)."""
    store().close()
    emit(seconds=0.0)


def startup(imported: float) -> None:
    """``import conveyor`` (timed by ``main``), then open the store and read one run."""
    from conveyor.store import open_store

    with Stopwatch() as opened:
        open_store(os.environ["CONVEYOR_DB_URL"]).runs.find(limit=1)
    emit(seconds=imported + opened.seconds, import_s=imported, open_s=opened.seconds)


def log_metric(_imported: float) -> None:
    """``start_run`` + METRIC_CALLS x ``cv.log_metric`` + end of run (its final flush)."""
    import conveyor as cv

    opened = store()
    with Stopwatch() as sw, cv.start_run() as run:
        for i in range(METRIC_CALLS):
            cv.log_metric("m", metric_value(i), step=i)
    emit(seconds=sw.seconds, stored=len(opened.runs.metric_history(run.id, "m")))


def log_batch(_imported: float) -> None:
    """BATCHES x (``ActiveRun.log_metrics`` of BATCH_SIZE values + ``flush()``), run open."""
    import conveyor as cv

    opened = store()
    with cv.start_run() as run:
        with Stopwatch() as sw:
            for step in range(BATCHES):
                values = {f"m{j}": metric_value(step * BATCH_SIZE + j) for j in range(BATCH_SIZE)}
                run.log_metrics(values, step=step)
                run.flush()
        run_id = run.id
    stored = sum(
        len(opened.runs.metric_history(run_id, f"m{j}")) for j in range(0, BATCH_SIZE, 100)
    )
    emit(seconds=sw.seconds, stored=stored * 100)


def runs(_imported: float) -> None:
    """RUNS x (``start_run`` + ``log_params`` + ``log_metrics`` + end of run)."""
    import conveyor as cv

    opened = store()
    with Stopwatch() as sw:
        for index in range(RUNS):
            with cv.start_run():
                cv.log_params(run_params(index))
                cv.log_metrics(run_metrics(index))
    emit(seconds=sw.seconds, stored=len(opened.runs.find(limit=1000)))


def seed(_imported: float, count: str) -> None:
    """Write ``count`` synthetic runs with SQLAlchemy Core inserts into Conveyor's tables.

    What logging would write for each run (a ``runs`` row; 10 ``params``; 10 ``metrics``
    and 10 ``latest_metrics`` rows at step 0), executemany in transactions of CHUNK runs,
    as ``bench/search_bench.py`` seeds; no ``ANALYZE`` (Conveyor never runs one).
    """
    from conveyor.store.tables import LatestMetricRow, MetricRow, ParamRow, RunRow

    engine = store().engine
    tables = (RunRow, ParamRow, LatestMetricRow, MetricRow)
    with Stopwatch() as sw:
        batch: list[SyntheticRun] = []
        for run in synthetic_runs(int(count)):
            batch.append(run)
            if len(batch) == CHUNK:
                _insert(engine, tables, batch)
                batch = []
        if batch:
            _insert(engine, tables, batch)
    emit(seconds=sw.seconds)


def _insert(engine: Any, tables: tuple[Any, ...], batch: list[SyntheticRun]) -> None:
    from sqlalchemy import insert

    runs_rows, params, latest, history = [], [], [], []
    for r in batch:
        started = datetime.fromtimestamp(r.started_ms / 1000, UTC)
        runs_rows.append(_run_row(r, started))
        params += [
            {"run_id": r.id, "key": k, "value": json.dumps(v), "text": v}
            for k, v in r.params.items()
        ]
        for key, value in r.metrics.items():
            metric = {"run_id": r.id, "key": key, "value": value, "step": 0}
            latest.append(metric)
            history.append({**metric, "logged_at": started})
    with engine.begin() as conn:
        for table, rows in zip(tables, (runs_rows, params, latest, history), strict=True):
            conn.execute(insert(table.__table__), rows)


def _run_row(r: SyntheticRun, started: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": "failed" if r.failed else "success",
        "started_at": started,
        "ended_at": started + timedelta(minutes=5),
        "git_commit": r.id,
        "git_branch": "main",
        "git_dirty": False,
        "user": "bench",
        "trigger": "manual",
        "project": "bench",
        "name": None,
        "kind": "script",
        "targets": {"stages": []},
    }


def search(_imported: float, repeat: str = str(SEARCH_REPEAT)) -> None:
    """The run search with the filter and order: the first call, then ``repeat`` more."""
    opened = store()
    find, api = _search_api(opened)
    with Stopwatch() as first:
        ids = [run.id for run in find()]
    again = []
    for _ in range(int(repeat)):
        with Stopwatch() as sw:
            find()
        again.append(sw.seconds)
    again_s = statistics.median(again) if again else None
    emit(seconds=first.seconds, again_s=again_s, ids=ids, api=api)


def _search_api(opened: Any) -> tuple[Any, str]:
    """``store.runs.find(where=, order_by=, limit=)`` if it exists yet, else its parts.

    The parts are what that search is built from: parse the filter and the order, take
    one planned page of rows (``page_runs``) and load them as ``Run`` entities with the
    repository's own loader, in one session, so both paths return the same objects.
    """
    if "where" in inspect.signature(opened.runs.find).parameters:
        return (
            lambda: opened.runs.find(where=SEARCH_WHERE, order_by=SEARCH_ORDER, limit=SEARCH_LIMIT),
            f'store.runs.find(where="{SEARCH_WHERE}", order_by="{SEARCH_ORDER}", '
            f"limit={SEARCH_LIMIT})",
        )
    from conveyor.search import RUN_ATTRIBUTES, parse_filter, parse_order_by
    from conveyor.store.search import page_runs

    def find() -> list[Any]:
        conditions = parse_filter(SEARCH_WHERE, RUN_ATTRIBUTES)
        order = parse_order_by(SEARCH_ORDER, RUN_ATTRIBUTES)
        with opened.runs._session() as session:
            rows = page_runs(session, conditions, order, limit=SEARCH_LIMIT)
            return list(opened.runs._load(session, rows))

    return find, (
        "parse_filter + parse_order_by + store.search.page_runs + the repository's Run "
        "loader (store.runs.find has no where= yet)"
    )


def prepare_model(_imported: float) -> None:
    """Log a small scikit-learn model on a run (untimed set-up for ``register``)."""
    from sklearn.linear_model import LogisticRegression

    import conveyor as cv

    store().close()
    features = [[i / 10, (i % 3) / 3] for i in range(20)]
    labels = [i % 2 for i in range(20)]
    with cv.start_run() as run:
        cv.log_model(LogisticRegression().fit(features, labels), "model")
    emit(seconds=0.0, uri=f"runs:/{run.id}/model")


def register(_imported: float, uri: str) -> None:
    """VERSIONS x ``Registry.register(uri, MODEL_NAME)`` of one logged model."""
    from conveyor.gitinfo import git_info
    from conveyor.registry import Registry
    from conveyor.settings import Settings

    actor = Settings.from_env().user or git_info(Path.cwd()).user  # as `conveyor models` does
    registry = Registry(store(), actor)
    with Stopwatch() as sw:
        for _ in range(VERSIONS):
            version = registry.register(uri, MODEL_NAME)
    emit(seconds=sw.seconds, versions=version.version)


SCENARIOS = {
    "init": init,
    "startup": startup,
    "log_metric": log_metric,
    "log_batch": log_batch,
    "runs": runs,
    "seed": seed,
    "search": search,
    "prepare_model": prepare_model,
    "register": register,
}

if __name__ == "__main__":
    main()
