"""MLflow's side of the tracking benchmark; run by ``bench/.venvs/mlflow/bin/python``.

``python mlflow_driver.py SCENARIO DIR [ARG]`` works on ``DIR/mlflow.db`` (SQLite) with
``DIR`` as the working directory, so the default artifact root is ``DIR/mlruns``. Every
scenario opens the store and reads once through it before its timed window, so the window
holds the operation, not the first connection or the schema check. See ``common.py`` for
the sizes and the report format.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
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

EXPERIMENT = "0"  # the Default experiment every fresh MLflow database has
CHUNK = 5_000  # seeded runs per transaction


def main() -> None:
    scenario, directory, extra = args()
    os.chdir(directory)
    with Stopwatch() as imported:
        import mlflow
    mlflow.set_tracking_uri(f"sqlite:///{Path(directory).resolve() / 'mlflow.db'}")
    SCENARIOS[scenario](imported.seconds, *extra)


def client() -> Any:
    """An ``MlflowClient`` on the store, opened by one untimed read."""
    from mlflow import MlflowClient

    opened = MlflowClient()
    opened.get_experiment(EXPERIMENT)
    return opened


def init(_imported: float) -> None:
    """Create the schema and the Default experiment (what a first use does)."""
    client()
    emit(seconds=0.0)


def startup(imported: float) -> None:
    """``import mlflow`` (timed by ``main``), then the first read through a new client."""
    from mlflow import MlflowClient

    with Stopwatch() as opened:
        MlflowClient().search_runs([EXPERIMENT], max_results=1)
    emit(seconds=imported + opened.seconds, import_s=imported, open_s=opened.seconds)


def log_metric(_imported: float) -> None:
    """``start_run`` + METRIC_CALLS x ``mlflow.log_metric`` + end of run."""
    import mlflow

    store = client()
    with Stopwatch() as sw, mlflow.start_run() as run:
        for i in range(METRIC_CALLS):
            mlflow.log_metric("m", metric_value(i), step=i)
    stored = len(store.get_metric_history(run.info.run_id, "m"))
    emit(seconds=sw.seconds, stored=stored)


def log_batch(_imported: float) -> None:
    """BATCHES x ``MlflowClient.log_batch`` of BATCH_SIZE metrics, on a run created before."""
    from mlflow.entities import Metric

    store = client()
    run_id = store.create_run(EXPERIMENT).info.run_id
    with Stopwatch() as sw:
        for step in range(BATCHES):
            now = int(time.time() * 1000)
            metrics = [
                Metric(f"m{j}", metric_value(step * BATCH_SIZE + j), now, step)
                for j in range(BATCH_SIZE)
            ]
            store.log_batch(run_id, metrics=metrics)
    store.set_terminated(run_id)
    stored = sum(len(store.get_metric_history(run_id, f"m{j}")) for j in range(0, BATCH_SIZE, 100))
    emit(seconds=sw.seconds, stored=stored * 100)


def runs(_imported: float) -> None:
    """RUNS x (``start_run`` + ``log_params`` + ``log_metrics`` + end of run)."""
    import mlflow

    store = client()
    with Stopwatch() as sw:
        for index in range(RUNS):
            with mlflow.start_run():
                mlflow.log_params(run_params(index))
                mlflow.log_metrics(run_metrics(index))
    stored = len(store.search_runs([EXPERIMENT], max_results=1000))
    emit(seconds=sw.seconds, stored=stored)


def seed(_imported: float, count: str) -> None:
    """Write ``count`` synthetic runs with SQL inserts into MLflow's own tables.

    What ``create_run`` + ``log_batch`` would write for each run (a ``runs`` row; 10
    ``params``; 10 ``metrics`` and 10 ``latest_metrics`` rows at step 0), in transactions
    of CHUNK runs through ``sqlite3``: 100,000 runs through the client would take ~40 min.
    """
    client()  # the schema exists and is current
    with Stopwatch() as sw:
        db = sqlite3.connect("mlflow.db")
        (root,) = db.execute(
            "SELECT artifact_location FROM experiments WHERE experiment_id = ?", (EXPERIMENT,)
        ).fetchone()
        batch: list[SyntheticRun] = []
        for run in synthetic_runs(int(count)):
            batch.append(run)
            if len(batch) == CHUNK:
                _insert(db, batch, root)
                batch = []
        if batch:
            _insert(db, batch, root)
        db.close()
    emit(seconds=sw.seconds)


def _insert(db: sqlite3.Connection, batch: list[SyntheticRun], root: str) -> None:
    runs_rows, params, metrics = [], [], []
    for r in batch:
        status = "FAILED" if r.failed else "FINISHED"
        runs_rows.append(
            (r.id, None, "LOCAL", "bench", "", "bench", status, r.started_ms,
             r.started_ms + 300_000, r.id, "active", f"{root}/{r.id}/artifacts", 0)
        )  # fmt: skip
        params += [(k, v, r.id) for k, v in r.params.items()]
        metrics += [(k, v, r.started_ms, r.id) for k, v in r.metrics.items()]
    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            runs_rows,
        )
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?,?,?,?,0,0)",
            metrics,
        )
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?,?,?,?,0,0)",
            metrics,
        )


def search(_imported: float, repeat: str = str(SEARCH_REPEAT)) -> None:
    """``MlflowClient.search_runs`` with the filter and order: the first call, then ``repeat``
    more (median reported as ``again_s``)."""
    store = client()

    def once() -> list[str]:
        found = store.search_runs(
            [EXPERIMENT],
            filter_string=SEARCH_WHERE,
            order_by=[SEARCH_ORDER],
            max_results=SEARCH_LIMIT,
        )
        return [run.info.run_id for run in found]

    with Stopwatch() as first:
        ids = once()
    again = []
    for _ in range(int(repeat)):
        with Stopwatch() as sw:
            once()
        again.append(sw.seconds)
    emit(seconds=first.seconds, again_s=statistics.median(again) if again else None, ids=ids)


def prepare_model(_imported: float) -> None:
    """Log a small scikit-learn model on a run (untimed set-up for ``register``)."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    client()
    features = [[i / 10, (i % 3) / 3] for i in range(20)]
    labels = [i % 2 for i in range(20)]
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(LogisticRegression().fit(features, labels), name="model")
    emit(seconds=0.0, uri=info.model_uri)


def register(_imported: float, uri: str) -> None:
    """VERSIONS x ``mlflow.register_model(uri, MODEL_NAME)`` of one logged model."""
    import mlflow

    store = client()
    store.search_registered_models()
    with Stopwatch() as sw:
        for _ in range(VERSIONS):
            version = mlflow.register_model(uri, MODEL_NAME)
    emit(seconds=sw.seconds, versions=int(version.version))


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
