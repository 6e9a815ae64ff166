"""What RESULTS.md says when a tracking target is missed: by how much, why, what to change.

The "why" texts come from profiling Conveyor's driver (``python -m cProfile -o out.prof
bench/drivers/conveyor_driver.py SCENARIO DIR``) on 2026-11-22; they are printed only when
the run's own figures miss the target or meet it narrowly, next to the margin, so a fix
in ``src/`` makes them disappear from the next run's RESULTS.md.
"""

from __future__ import annotations

from results import Comparison

MANY_RUNS = (
    "Diagnosis (per-step timing of this workload on commit e1eb3bb, where "
    "`tracking._open_store` keeps one store per process and `gitinfo.recent_git_info` asks "
    "git at most every 2 s): a run costs 3.1–4.3 ms here: `runs.log_metric_batch` 1.0–1.6 "
    "ms for its 10 values (ORM bulk insert, then the `latest_metrics` upsert), "
    "`runs.log_params` 0.8–1.2 (a SELECT of the existing params, then ORM unit-of-work "
    "inserts), `runs.create` 0.4–0.5, `runs.finish` 0.4–0.6, the rest ~0.3. Before e1eb3bb "
    "a run cost 13–22 ms, mostly `git` subprocesses (four per run, then one) and a new "
    "SQLAlchemy engine per run. Further fixes, in `conveyor/store/runs.py`: Core "
    "executemany instead of the ORM for params and metrics; `log_params` without the SELECT "
    "for a run this process created; and in `tracking.ActiveRun.end`, the last metric flush "
    "and `finish` in one transaction."
)

BATCH = (
    "Diagnosis (cProfile of `conveyor_driver.py log_batch`): a batch is "
    "`conveyor/store/runs.py:log_metric_batch`: the 1,000-row insert into `metrics` and, "
    "about as long again, `upsert_latest_metrics` (1,000 keys, one upserted row each). "
    "Both go through the ORM's bulk path (`session.execute(insert(MetricRow), rows)`: "
    "per-row bookkeeping in SQLAlchemy's `persistence._collect_insert_commands`, bind "
    "processing per value); SQLite's own `executemany` is about a fifth of the time. Fix: "
    "execute both statements with Core on the session's connection "
    "(`session.connection().execute(MetricRow.__table__.insert(), rows)`)."
)

REGISTER = (
    "Diagnosis (cProfile of `conveyor_driver.py register`): per version, "
    "`conveyor/registry.py:Registry.resolve` loads the whole run (`store.runs.get` → "
    "`_load`: stages, params, metrics, tags; five SELECTs) only to check that it exists, "
    "then lists its models; and `store/registry.py:_create_version` opens a second session "
    "after its commit to read the new version back (`get_version`: three SELECTs). Fixes: "
    "resolve `runs:/ID/NAME` with one query on `logged_models` (by run id prefix and name), "
    "and build the returned `ModelVersion` from the row inside the transaction (a new "
    "version has no aliases or tags yet)."
)

SEARCH = (
    "Diagnosis: run `.venv/bin/python bench/search_bench.py` for the statements and "
    "SQLite's plan of each, and see `conveyor/store/search.py:page_runs`."
)

LOG_METRIC = (
    "Diagnosis: profile `conveyor_driver.py log_metric`; the per-call path is "
    "`conveyor/tracking.py:log_metric` → `active_run` → `ActiveRun.log_metrics` (a lock, "
    "`utcnow()`, validation) with a flush every 1,000 values."
)


def margin(
    comparison: Comparison, factor: float, items: int, unit: str, why: str
) -> tuple[str, ...]:
    """Notes for a ``≥ factor×`` target missed or met narrowly: by how much, and ``why``.

    Narrowly: below 1.5 x ``factor``, where this machine's noise could tip it over.
    """
    if comparison.passed is None or comparison.ratio >= 1.5 * factor:
        return ()
    conveyor = comparison.conveyor.stats.median / items * 1e3
    peer = comparison.peer.stats.median / items * 1e3
    needed = peer / factor
    if comparison.passed:
        return (
            f"Narrow pass: {comparison.ratio:.1f}× where {factor:g}× was asked (Conveyor "
            f"{conveyor:.2f} ms per {unit}, MLflow {peer:.2f} ms); the spread of "
            "MLflow's figures could tip it. Where the time goes:",
            why,
        )
    return (
        f"**Target missed**: {comparison.ratio:.1f}× where {factor:g}× was asked. Conveyor "
        f"took {conveyor:.2f} ms per {unit}, MLflow {peer:.2f} ms; {factor:g}× needs "
        f"Conveyor at ≤ {needed:.2f} ms per {unit}, {conveyor / needed:.1f}× less than now.",
        why,
    )
