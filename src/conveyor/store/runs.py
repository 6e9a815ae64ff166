"""SQL implementation of :class:`~conveyor.store.base.RunRepository`."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import Session

from conveyor.dotted import flatten_params
from conveyor.errors import ConflictError, NotFoundError
from conveyor.ids import utcnow
from conveyor.store.engine import SessionScope
from conveyor.store.entities import NewRun, Run, StageRun
from conveyor.store.tables import (
    LatestMetricRow,
    MetricRow,
    ParamRow,
    RunRow,
    StageRunRow,
    TagRow,
)

HEX = re.compile(r"^[0-9a-f]{1,32}$")
STAGE_FIELDS = (
    "stage",
    "status",
    "key",
    "started_at",
    "duration_s",
    "exit_code",
    "message",
    "stdout_digest",
    "stderr_digest",
    "log_digest",
    "deps",
    "outs",
)

MetricValue = tuple[str, float, int, datetime]
"""One logged metric value: key, value, step, logged_at."""


class SqlRunRepository:
    """Runs in the ``runs``, ``stage_runs``, ``params`` and ``metrics`` tables."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def create(self, run: NewRun) -> None:
        with self._session() as s:
            s.add(
                RunRow(
                    id=run.id,
                    status="running",
                    started_at=run.started_at,
                    ended_at=None,
                    git_commit=run.git_commit,
                    git_branch=run.git_branch,
                    git_dirty=run.git_dirty,
                    user=run.user,
                    trigger=run.trigger,
                    project=run.project,
                    targets={"stages": list(run.targets)},
                    name=run.name,
                    kind=run.kind,
                )
            )

    def record_stage(self, run_id: str, stage: StageRun) -> None:
        with self._session() as s:
            s.add(StageRunRow(run_id=run_id, **{f: getattr(stage, f) for f in STAGE_FIELDS}))

    def finish(self, run_id: str, status: str, ended_at: datetime) -> None:
        with self._session() as s:
            s.execute(
                update(RunRow).where(RunRow.id == run_id).values(status=status, ended_at=ended_at)
            )

    def close_abandoned(self, project: str, ended_at: datetime) -> list[str]:
        """Mark this project's pipeline runs still "running" as "crashed"; returns their ids.

        Called by a new run that holds the project's run lock: no other run can be alive,
        so a run still marked running was killed without a chance to record its end.
        """
        with self._session() as s:
            ids = list(
                s.scalars(
                    select(RunRow.id).where(
                        RunRow.project == project,
                        RunRow.status == "running",
                        RunRow.kind == "pipeline",  # scripts' runs are not under the lock
                    )
                )
            )
            if ids:
                s.execute(
                    update(RunRow)
                    .where(RunRow.id.in_(ids))
                    .values(status="crashed", ended_at=ended_at)
                )
            return ids

    def log_params(self, run_id: str, params: Mapping[str, Any], stage: str | None = None) -> None:
        params = flatten_params(params)
        with self._session() as s:
            existing = {
                row.key: row.value
                for row in s.scalars(select(ParamRow).where(ParamRow.run_id == run_id))
            }
            for key, value in params.items():
                encoded = json.dumps(value, sort_keys=True)
                if key not in existing:
                    text = param_text(value)
                    s.add(ParamRow(run_id=run_id, key=key, value=encoded, text=text, stage=stage))
                elif json.loads(existing[key]) != value:  # 1 and 1.0 are the same param
                    raise ConflictError(
                        f"param {key!r} of run {run_id} is already {existing[key]}, "
                        f"cannot change it to {encoded}",
                        hint="params are fixed once logged; start a new run to try a new value",
                    )

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        now = utcnow()
        self.log_metric_batch(run_id, [(key, value, step, now) for key, value in metrics.items()])

    def log_metric_batch(
        self,
        run_id: str,
        values: Sequence[tuple[str, float, int, datetime]],
        stage: str | None = None,
    ) -> None:
        """Store many ``(key, value, step, logged_at)`` in one transaction."""
        if not values:
            return
        rows = [
            {"run_id": run_id, "key": k, "value": _stored(v), "step": step, "logged_at": at}
            | {"stage": stage}
            for k, v, step, at in values
        ]
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:  # a later value at the same or a higher step wins
            key = str(row["key"])
            if key not in latest or row["step"] >= latest[key]["step"]:
                latest[key] = row
        with self._session() as s:
            s.execute(insert(MetricRow), rows)
            upsert_latest_metrics(s, run_id, list(latest.values()))

    def logged_by_stage(self, run_id: str, stage: str) -> tuple[dict[str, Any], list[MetricValue]]:
        """The params and metric values (history, oldest first) ``stage``'s script logged."""
        with self._session() as s:
            params = s.scalars(
                select(ParamRow).where(ParamRow.run_id == run_id, ParamRow.stage == stage)
            )
            logged = {p.key: json.loads(p.value) for p in params}
            metrics = s.scalars(
                select(MetricRow)
                .where(MetricRow.run_id == run_id, MetricRow.stage == stage)
                .order_by(MetricRow.id)
            )
            values = [
                (m.key, math.nan if m.value is None else m.value, m.step, m.logged_at)
                for m in metrics
            ]
        return logged, values

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        with self._session() as s:
            for key, value in tags.items():
                s.merge(TagRow(run_id=run_id, key=key, value=str(value)))

    def get(self, id_or_prefix: str) -> Run:
        with self._session() as s:
            if not HEX.match(id_or_prefix):
                raise self._not_found(s, id_or_prefix)
            rows = s.scalars(
                select(RunRow).where(RunRow.id.startswith(id_or_prefix)).limit(2)
            ).all()
            if not rows:
                raise self._not_found(s, id_or_prefix)
            if len(rows) > 1:
                raise ConflictError(
                    f"run id prefix {id_or_prefix!r} matches several runs "
                    f"({rows[0].id}, {rows[1].id}, ...)",
                    hint="type more characters of the id",
                )
            return self._load(s, rows)[0]

    def _not_found(self, s: Session, wanted: str) -> NotFoundError:
        recent = s.scalars(select(RunRow.id).order_by(RunRow.started_at.desc()).limit(5)).all()
        hint = f"recent runs: {', '.join(recent)}" if recent else "no run is recorded yet"
        return NotFoundError(f"no run with id {wanted!r}", hint=hint + " (see `conveyor runs`)")

    def find(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        stage: str | None = None,
        where: str = "",
        order_by: str = "",
        limit: int = 20,
    ) -> Sequence[Run]:
        """Runs matching all the given filters, newest first unless ``order_by`` says.

        ``where`` and ``order_by`` use the filter language of :mod:`conveyor.search`.
        """
        from conveyor.search import RUN_ATTRIBUTES, Condition, parse_filter, parse_order_by
        from conveyor.store.engine import search_time_limit
        from conveyor.store.search import filter_runs, order_runs, page_runs

        conditions = list(parse_filter(where, RUN_ATTRIBUTES))
        if status:
            conditions.append(Condition("attribute", "status", "=", status))
        if since:
            conditions.append(Condition("attribute", "started_at", ">=", since.isoformat()))
        order = parse_order_by(order_by, RUN_ATTRIBUTES) if order_by else None
        with self._session() as s, search_time_limit(s):
            if not stage:
                return self._load(s, page_runs(s, conditions, order, limit=limit))
            query = filter_runs(select(RunRow), conditions).where(
                exists().where(StageRunRow.run_id == RunRow.id, StageRunRow.stage == stage)
            )
            if order is None:
                query = query.order_by(RunRow.started_at.desc())
            return self._load(s, s.scalars(order_runs(query, order).limit(limit)).all())

    def _load(self, s: Session, rows: Sequence[RunRow]) -> list[Run]:
        ids = [row.id for row in rows]
        stages: dict[str, list[StageRun]] = defaultdict(list)
        for sr in s.scalars(
            select(StageRunRow).where(StageRunRow.run_id.in_(ids)).order_by(StageRunRow.id)
        ):
            stages[sr.run_id].append(StageRun(**{f: getattr(sr, f) for f in STAGE_FIELDS}))
        params: dict[str, dict[str, Any]] = defaultdict(dict)
        for p in s.scalars(select(ParamRow).where(ParamRow.run_id.in_(ids))):
            params[p.run_id][p.key] = json.loads(p.value)
        metrics: dict[str, dict[str, float]] = defaultdict(dict)
        for m in s.scalars(select(LatestMetricRow).where(LatestMetricRow.run_id.in_(ids))):
            metrics[m.run_id][m.key] = math.nan if m.value is None else m.value
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for t in s.scalars(select(TagRow).where(TagRow.run_id.in_(ids))):
            tags[t.run_id][t.key] = t.value
        return [
            Run(
                id=row.id,
                status=row.status,
                started_at=row.started_at,
                ended_at=row.ended_at,
                project=row.project,
                trigger=row.trigger,
                user=row.user,
                git_commit=row.git_commit,
                git_branch=row.git_branch,
                git_dirty=row.git_dirty,
                targets=tuple(row.targets.get("stages", [])),
                params=flatten_params(params[row.id]),  # older runs may hold a mapping
                metrics=metrics[row.id],
                stages=tuple(stages[row.id]),
                name=row.name,
                kind=row.kind,
                tags=tags[row.id],
            )
            for row in rows
        ]

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """Every ``(step, value)`` logged for one metric, in logging order."""
        with self._session() as s:
            rows = s.execute(
                select(MetricRow.step, MetricRow.value)
                .where(MetricRow.run_id == run_id, MetricRow.key == key)
                .order_by(MetricRow.id)
            ).all()
        return [(step, math.nan if value is None else value) for step, value in rows]


def _stored(value: float) -> float | None:
    return None if math.isnan(value) else value


def param_text(value: Any) -> str:
    """A param as the string search compares with: strings as they are, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def upsert_latest_metrics(s: Session, run_id: str, rows: list[dict[str, Any]]) -> None:
    """Keep, per metric, the value at its highest step (SQLite and PostgreSQL upsert)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = s.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(LatestMetricRow)
    statement = statement.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={"value": statement.excluded.value, "step": statement.excluded.step},
        where=LatestMetricRow.step <= statement.excluded.step,
    )
    s.execute(
        statement,
        [{"run_id": run_id, "key": r["key"], "value": r["value"], "step": r["step"]} for r in rows],
    )
