"""The tracking and registry scenarios: the same workload through MLflow and Conveyor.

Every scenario prepares one SQLite store per tool under its own scratch directory
(untimed: schema created by the tool itself, plus whatever the scenario needs), then runs
``reps`` fresh driver processes of each tool, taking turns. A driver opens its store and
reads once through it, untimed, then times the operation inside the process and reports
the seconds (see ``drivers/``). Stores that the operation writes to are restored from a
copy of the prepared state before every repetition, at the same path. The docstring of
each scenario says what is measured and how.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tracking_diagnosis as diagnosis
from drivers import common
from results import REFERENCE, Comparison, Measured, ScenarioResult, Target, faster_by
from timing import Command, last_report, run_checked, stats_of, time_reported
from tracking_diagnosis import margin
from tracking_tools import Drivers

Reports = list[dict[str, Any]]


@dataclass(frozen=True)
class Side:
    """One tool's part of a scenario: its driver's argv, and what to restore before each run."""

    argv: list[str]
    directory: Path
    before: Callable[[], None] | None = None


def measure(drivers: Drivers, reps: int, *sides: Side) -> list[Reports]:
    """Each side's reports from ``reps`` fresh driver processes, taking turns."""
    commands = [Command(side.argv, side.directory, side.before) for side in sides]
    return time_reported(commands, drivers.env, reps)


def startup(drivers: Drivers, work: Path, reps: int) -> ScenarioResult:
    """Start-up, as context: importing the SDK, then the first read of an existing store.

    In a fresh process: ``import mlflow`` vs ``import conveyor``, timed in the process;
    then MLflow's first ``MlflowClient().search_runs(..., max_results=1)`` vs Conveyor's
    ``open_store(url).runs.find(limit=1)`` (engine, schema check, one query; Conveyor
    imports SQLAlchemy here, as ``import conveyor`` defers it). Stores created before.
    """
    m_dir, c_dir = prepared(drivers, work)
    mlflow, conveyor = measure(
        drivers,
        reps,
        Side(drivers.mlflow("startup", m_dir), m_dir),
        Side(drivers.conveyor("startup", c_dir), c_dir),
    )
    rm(work)
    return ScenarioResult(
        0,
        "Start-up (context, no target)",
        startup.__doc__ or "",
        (
            compare(conveyor, "import conveyor", mlflow, "import mlflow", key="import_s"),
            compare(
                conveyor,
                "import + open_store + runs.find(limit=1)",
                mlflow,
                "import + MlflowClient().search_runs(max_results=1)",
            ),
        ),
    )


def log_metric(drivers: Drivers, work: Path, reps: int) -> ScenarioResult:
    """10,000 metric values logged one call each, inside a run.

    Timed: ``with start_run():`` + 10,000 x ``log_metric("m", value, step=i)`` + the end of
    the block (MLflow's ``end_run``; Conveyor's final flush and ``finish``), i.e. until
    every value is in the database. MLflow writes each value in its own transaction;
    Conveyor buffers and writes 1,000 values per transaction. Both stores are restored to
    their empty state before each repetition; afterwards each driver counts the stored
    values (``get_metric_history`` / ``runs.metric_history``).
    """
    mlflow, conveyor = _fresh_runs(drivers, work, reps, "log_metric")
    n = f"{common.METRIC_CALLS:,}"
    row = compare(
        conveyor, f"cv.log_metric × {n}", mlflow, f"mlflow.log_metric × {n}", faster_by(10)
    )
    return ScenarioResult(
        1,
        f"{n} metric values, one call each",
        log_metric.__doc__ or "",
        (row,),
        notes=_stored_notes(mlflow, conveyor, common.METRIC_CALLS, "values")
        + margin(row, 10, common.METRIC_CALLS, "value", diagnosis.LOG_METRIC),
    )


def log_batch(drivers: Drivers, work: Path, reps: int) -> ScenarioResult:
    """10 batches of 1,000 metric values (keys m0..m999, one step per batch) on an open run.

    MLflow: ``MlflowClient().log_batch(run_id, metrics=[Metric(...) x 1,000])``, the run
    created before the timed window. Conveyor: ``ActiveRun.log_metrics({...1,000 keys},
    step=i)`` then ``ActiveRun.flush()`` (the SDK's batch path; the buffer reaches 1,000
    values and is written in one transaction by ``store.runs.log_metric_batch``), inside
    ``start_run`` entered before the timed window. Building the 1,000 values is timed for
    both. Stores restored before each repetition; values counted afterwards.
    """
    mlflow, conveyor = _fresh_runs(drivers, work, reps, "log_batch")
    row = compare(
        conveyor,
        f"ActiveRun.log_metrics + flush × {common.BATCHES}",
        mlflow,
        f"MlflowClient.log_batch × {common.BATCHES}",
        faster_by(5),
    )
    return ScenarioResult(
        2,
        f"{common.BATCHES} batches of {common.BATCH_SIZE:,} metric values",
        log_batch.__doc__ or "",
        (row,),
        notes=_stored_notes(mlflow, conveyor, common.BATCHES * common.BATCH_SIZE, "values")
        + margin(row, 5, common.BATCHES, f"batch of {common.BATCH_SIZE:,}", diagnosis.BATCH),
    )


def many_runs(drivers: Drivers, work: Path, reps: int) -> ScenarioResult:
    """100 runs, each with 10 params and 10 metrics, one after the other in one process.

    Timed: 100 x (``with start_run():`` + ``log_params({10})`` + ``log_metrics({10})`` + the
    end of the block), fluent API of each SDK (``mlflow.*`` / ``conveyor.*``). Both record
    the git commit of the work tree (the scratch directory is inside this repository).
    Stores restored before each repetition; runs counted afterwards.
    """
    mlflow, conveyor = _fresh_runs(drivers, work, reps, "runs")
    row = compare(
        conveyor,
        f"cv.start_run + log_params + log_metrics × {common.RUNS}",
        mlflow,
        f"mlflow.start_run + log_params + log_metrics × {common.RUNS}",
        faster_by(5),
    )
    return ScenarioResult(
        3,
        f"{common.RUNS} runs × ({common.PARAMS_PER_RUN} params + {common.METRICS_PER_RUN} metrics)",
        many_runs.__doc__ or "",
        (row,),
        notes=_stored_notes(mlflow, conveyor, common.RUNS, "runs")
        + margin(row, 5, common.RUNS, "run", diagnosis.MANY_RUNS),
    )


def register(drivers: Drivers, work: Path, reps: int) -> ScenarioResult:
    """Registering 50 versions of one model that is already logged.

    Prepared (untimed): each tool logs one small scikit-learn ``LogisticRegression`` on a
    run (``mlflow.sklearn.log_model`` / ``cv.log_model``). Timed: 50 x registering that
    logged model under one name: ``mlflow.register_model("models:/<model id>", name)``
    (MLflow 3's URI for a logged model; a ``runs:/`` URI costs more: MLflow looks for run
    artifacts first, then falls back to it) vs ``Registry(store, actor).register("runs:/
    <run id>/model", name)``, what ``conveyor models register`` calls. The first call
    creates the registered model in both. Stores restored before each repetition.
    """
    m_dir, c_dir = prepared(drivers, work)
    m_uri = report_of(drivers.mlflow("prepare_model", m_dir), m_dir, drivers)["uri"]
    c_uri = report_of(drivers.conveyor("prepare_model", c_dir), c_dir, drivers)["uri"]
    m_restore, c_restore = restorer(m_dir), restorer(c_dir)
    mlflow, conveyor = measure(
        drivers,
        reps,
        Side(drivers.mlflow("register", m_dir, m_uri), m_dir, m_restore),
        Side(drivers.conveyor("register", c_dir, c_uri), c_dir, c_restore),
    )
    rm(work)
    n = common.VERSIONS
    row = compare(
        conveyor, f"Registry.register × {n}", mlflow, f"mlflow.register_model × {n}", faster_by(5)
    )
    return ScenarioResult(
        5,
        f"Registering {n} versions of one logged model",
        register.__doc__ or "",
        (row,),
        notes=_versions_notes(mlflow, conveyor, n)
        + margin(row, 5, n, "version", diagnosis.REGISTER),
    )


# --- helpers ---------------------------------------------------------------------------------


def _fresh_runs(drivers: Drivers, work: Path, reps: int, scenario: str) -> list[Reports]:
    """Reports of ``scenario`` on stores restored to their just-created state every time."""
    m_dir, c_dir = prepared(drivers, work)
    m_restore, c_restore = restorer(m_dir), restorer(c_dir)
    reports = measure(
        drivers,
        reps,
        Side(drivers.mlflow(scenario, m_dir), m_dir, m_restore),
        Side(drivers.conveyor(scenario, c_dir), c_dir, c_restore),
    )
    rm(work)
    return reports


def prepared(drivers: Drivers, work: Path) -> tuple[Path, Path]:
    """Fresh ``work/mlflow`` and ``work/conveyor``, each store created by its own tool."""
    rm(work)
    m_dir, c_dir = work / "mlflow", work / "conveyor"
    for directory, argv in (
        (m_dir, drivers.mlflow("init", m_dir)),
        (c_dir, drivers.conveyor("init", c_dir)),
    ):
        directory.mkdir(parents=True)
        run_checked(argv, directory, drivers.env)
    return m_dir, c_dir


def restorer(directory: Path) -> Callable[[], None]:
    """Save ``directory`` as it is now; the result puts it back (same path) when called."""
    saved = directory.with_name(directory.name + ".template")
    rm(saved)
    shutil.copytree(directory, saved, symlinks=True)

    def restore() -> None:
        rm(directory)
        shutil.copytree(saved, directory, symlinks=True)
        os.sync()  # the copy's writeback must not land in the timed window

    return restore


def report_of(argv: list[str], directory: Path, drivers: Drivers) -> dict[str, Any]:
    """Run a set-up step of a driver (untimed) and return its report."""
    return last_report(run_checked(argv, directory, drivers.env).stdout)


def compare(
    conveyor: Reports,
    c_label: str,
    mlflow: Reports,
    m_label: str,
    target: Target = REFERENCE,
    key: str = "seconds",
) -> Comparison:
    """Conveyor's and MLflow's ``key`` figures, labelled, against ``target``."""
    return Comparison(
        Measured(c_label, stats_of(conveyor, key)), Measured(m_label, stats_of(mlflow, key)), target
    )


def _stored_notes(mlflow: Reports, conveyor: Reports, expected: int, what: str) -> tuple[str, ...]:
    counts = {r["stored"] for r in mlflow} | {r["stored"] for r in conveyor}
    if counts == {expected}:
        return (f"Counted after each repetition: both stores held all {expected:,} {what}.",)
    return (
        f"**Counts differ from {expected:,}**: MLflow stored {[r['stored'] for r in mlflow]}, "
        f"Conveyor {[r['stored'] for r in conveyor]} {what}.",
    )


def _versions_notes(mlflow: Reports, conveyor: Reports, expected: int) -> tuple[str, ...]:
    last = {r["versions"] for r in mlflow} | {r["versions"] for r in conveyor}
    if last == {expected}:
        return (f"Both ended each repetition at version {expected} of the model.",)
    return (f"**Last version numbers differ from {expected}**: {sorted(last)}.",)


def rm(path: Path) -> None:
    """Delete a file or a directory tree, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
