"""Search conditions and orders (:mod:`conveyor.search`) as SQL, the same on every backend.

Each condition narrows the query with one ``EXISTS`` correlated on the searched row::

    metrics.auc > 0.9    EXISTS (SELECT * FROM latest_metrics AS m
                                 WHERE m.run_id = runs.id AND m.key = 'auc' AND m.value > 0.9)
    params.C = '1.0'     EXISTS (... params AS p WHERE p.run_id = runs.id AND p.key = 'C'
                                 AND p.text = '1.0')
    status = 'finished'  runs.status = 'finished'

Ordering by a metric, param or tag LEFT JOINs that key's row, so rows without it stay in
the result and sort last (NaN too: it is stored as NULL), then newest first, then by id.

:func:`filter_runs` and :func:`order_runs` build that one statement, which is always right
but, on SQLite, probes the primary key of ``latest_metrics`` once per run and condition:
about 0.3 s at 100,000 runs. :func:`page_runs` returns the same rows and picks the plan
from the data, so that the common searches touch a few dozen index entries:

1. The conditions on one field met by fewer than :data:`SELECTIVE` rows (counted on its
   index, stopping there) drive: ``runs.id IN (SELECT run_id FROM latest_metrics WHERE
   key = ? AND value > ?)`` reads ``ix_latest_metrics_key_value``, and the few runs found
   are sorted.
2. Otherwise, ordered by a metric, param or tag: the statement joins that key's rows and
   sorts by their value, so SQLite walks ``ix_latest_metrics_key_value`` (or
   ``ix_params_key_text``, ``ix_tags_key_value``) in order, checks the conditions of each
   run by primary key, and stops at the end of the page::

       SEARCH latest_metrics_1 USING INDEX ix_latest_metrics_key_value (key=? AND value>?)
       SEARCH runs USING INDEX sqlite_autoindex_runs_1 (id=?)
       CORRELATED SCALAR SUBQUERY 1
         SEARCH latest_metrics_2 USING INDEX sqlite_autoindex_latest_metrics_1 (run_id=? AND key=?)
       USE TEMP B-TREE FOR RIGHT PART OF ORDER BY

   Rows that lack the value follow, in a second query, only if the page is not full.
3. Otherwise the one statement: ordered by ``started_at`` it walks ``ix_runs_started_at``.

Its slow case is conditions on different fields that each match many runs but together
few: each page then walks much of the order's index, about as slowly as the one statement.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, select, tuple_
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import SQLCoreOperations

from conveyor.search import Condition, Kind, OrderBy, parse_time, value_type
from conveyor.store.portable import bytewise, ilike, like, unindexed
from conveyor.store.tables import (
    LatestMetricRow,
    ModelTagRow,
    ModelVersionRow,
    ParamRow,
    RunRow,
    TagRow,
)

_Ts = TypeVarTuple("_Ts")
_Row = TypeVar("_Row")
_Field = tuple[Condition, ...]  # the conditions on one metric, param, tag or attribute

SELECTIVE = 2_000
"""Conditions on one field met by fewer rows than this drive :func:`page_runs`' query."""

RUN_COLUMNS: Mapping[str, SQLCoreOperations[Any]] = {
    "run_id": RunRow.id,
    "status": RunRow.status,
    "name": RunRow.name,
    "user": RunRow.user,
    "trigger": RunRow.trigger,
    "kind": RunRow.kind,
    "git_commit": RunRow.git_commit,
    "git_branch": RunRow.git_branch,
    "started_at": RunRow.started_at,
    "ended_at": RunRow.ended_at,
}
"""The column behind each of :data:`conveyor.search.RUN_ATTRIBUTES`."""

VERSION_COLUMNS: Mapping[str, SQLCoreOperations[Any]] = {
    "name": ModelVersionRow.name,
    "version": ModelVersionRow.version,
    "status": ModelVersionRow.status,
    "run_id": ModelVersionRow.run_id,
    "created_at": ModelVersionRow.created_at,
    "created_by": ModelVersionRow.created_by,
}
"""The column behind each of :data:`conveyor.search.VERSION_ATTRIBUTES`."""


def page_runs(
    session: Session,
    conditions: Sequence[Condition],
    order_by: OrderBy | None,
    *,
    limit: int,
    offset: int = 0,
) -> list[RunRow]:
    """One page of a run search, planned for the data (see the module docstring).

    The same rows as ``order_runs(filter_runs(select(RunRow), conditions), order_by)
    .offset(offset).limit(limit)``, usually much sooner::

        conditions = parse_filter("metrics.auc > 0.9 and params.C = '1.0'", RUN_ATTRIBUTES)
        order = parse_order_by("metrics.auc DESC", RUN_ATTRIBUTES)
        rows = page_runs(session, conditions, order, limit=20)
    """
    return _page(session, _RUNS, conditions, order_by, limit, offset)


def page_versions(
    session: Session,
    conditions: Sequence[Condition],
    order_by: OrderBy | None,
    *,
    limit: int,
    offset: int = 0,
) -> list[ModelVersionRow]:
    """One page of a model-version search: :func:`page_runs` for :func:`filter_versions`."""
    return _page(session, _VERSIONS, conditions, order_by, limit, offset)


def filter_runs(query: Select[*_Ts], conditions: Iterable[Condition]) -> Select[*_Ts]:
    """``query`` (over ``RunRow``) narrowed to the runs that meet every condition."""
    return _filter(query, _RUNS, conditions)


def order_runs(query: Select[*_Ts], order_by: OrderBy | None) -> Select[*_Ts]:
    """``query`` sorted by ``order_by``, missing values last, then newest first and by id;
    by default newest first. Apply ``.limit()`` / ``.offset()`` after, or use
    :func:`page_runs` for a page of the same rows, planned for speed."""
    return _order(query, _RUNS, order_by)


def filter_versions(query: Select[*_Ts], conditions: Iterable[Condition]) -> Select[*_Ts]:
    """``query`` (over ``ModelVersionRow``) narrowed to the versions that meet every condition.

    ``tags.x`` are the version's own tags (not the registered model's); ``metrics.x`` and
    ``params.x`` are those of the run that produced the version.
    """
    return _filter(query, _VERSIONS, conditions)


def order_versions(query: Select[*_Ts], order_by: OrderBy | None) -> Select[*_Ts]:
    """``query`` sorted by ``order_by``, missing values last, then newest first; by default
    newest first (ties: by name, highest version first)."""
    return _order(query, _VERSIONS, order_by)


# --- what is searched ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Child:
    """The rows that hold one kind of field of a searched row, under a fresh alias."""

    entity: Any  # the alias, to select from or join
    link: tuple[SQLCoreOperations[Any], ...]  # its columns that name the searched row
    owner: tuple[SQLCoreOperations[Any], ...]  # the searched row's columns they match
    key: SQLCoreOperations[str]
    value: SQLCoreOperations[Any]

    @property
    def on(self) -> ColumnElement[bool]:
        return and_(*(mine == theirs for mine, theirs in zip(self.link, self.owner, strict=True)))


@dataclass(frozen=True)
class _Target(Generic[_Row]):
    """A searchable table: its attributes, where its fields live, its default order."""

    entity: type[_Row]
    columns: Mapping[str, SQLCoreOperations[Any]]
    child: Callable[[Kind], _Child]
    tiebreak: tuple[SQLCoreOperations[Any], ...]


def _run_child(kind: Kind, run_id: SQLCoreOperations[str]) -> _Child:
    if kind == "metric":
        metric = aliased(LatestMetricRow)
        return _Child(metric, (metric.run_id,), (run_id,), metric.key, metric.value)
    if kind == "param":
        param = aliased(ParamRow)
        return _Child(param, (param.run_id,), (run_id,), param.key, param.text)
    tag = aliased(TagRow)
    return _Child(tag, (tag.run_id,), (run_id,), tag.key, tag.value)


def _version_child(kind: Kind) -> _Child:
    if kind != "tag":
        return _run_child(kind, ModelVersionRow.run_id)
    tag = aliased(ModelTagRow)
    version = (ModelVersionRow.name, ModelVersionRow.version)
    return _Child(tag, (tag.name, tag.version), version, tag.key, tag.value)


_RUNS = _Target(
    RunRow,
    RUN_COLUMNS,
    lambda kind: _run_child(kind, RunRow.id),
    (RunRow.started_at.desc(), RunRow.id),
)
_VERSIONS = _Target(
    ModelVersionRow,
    VERSION_COLUMNS,
    _version_child,
    (
        ModelVersionRow.created_at.desc(),
        bytewise(ModelVersionRow.name),
        ModelVersionRow.version.desc(),
    ),
)


# --- the one statement ------------------------------------------------------------------


def _filter(
    query: Select[*_Ts],
    target: _Target[Any],
    conditions: Iterable[Condition],
    *,
    driver: _Field = (),
    walking: bool = False,
) -> Select[*_Ts]:
    if driver and driver[0].kind != "attribute":  # a column test drives by the column's index
        query = query.where(_driving(driver, target))
        conditions = [condition for condition in conditions if condition not in driver]
    for condition in conditions:
        query = query.where(_clause(condition, target, walking))
    return query


def _clause(condition: Condition, target: _Target[Any], walking: bool) -> ColumnElement[bool]:
    if condition.kind == "attribute":
        column = target.columns[condition.key]
        return _compare(unindexed(column) if walking else column, condition)
    child = target.child(condition.kind)
    return exists().where(child.on, child.key == condition.key, _compare(child.value, condition))


def _driving(field: _Field, target: _Target[Any]) -> ColumnElement[bool]:
    """A field's conditions as ``owner IN (SELECT link ...)``, which the planner reads first."""
    child = target.child(field[0].kind)
    matching = select(*child.link).where(*_field_clauses(field, child))
    if len(child.owner) == 1:
        return child.owner[0].in_(matching)
    return tuple_(*child.owner).in_(matching)


def _field_clauses(field: _Field, child: _Child) -> list[ColumnElement[bool]]:
    """The conditions on one metric, param or tag as tests of its row in ``child``."""
    return [child.key == field[0].key, *(_compare(child.value, c) for c in field)]


def _order(query: Select[*_Ts], target: _Target[Any], order_by: OrderBy | None) -> Select[*_Ts]:
    if order_by is None:
        return query.order_by(*target.tiebreak)
    if order_by.kind == "attribute":
        column = target.columns[order_by.key]
    else:
        child = target.child(order_by.kind)
        query = query.outerjoin(child.entity, and_(child.on, child.key == order_by.key))
        column = child.value
    return query.order_by(_direction(column, order_by).nulls_last(), *target.tiebreak)


def _direction(column: SQLCoreOperations[Any], order_by: OrderBy) -> ColumnElement[Any]:
    if value_type(order_by.kind, order_by.key) == "text":
        column = bytewise(column)
    return column.desc() if order_by.descending else column.asc()


_OPERATORS: Mapping[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare(column: SQLCoreOperations[Any], condition: Condition) -> ColumnElement[bool]:
    value = condition.value
    if isinstance(value, tuple):
        return column.in_(value)
    if condition.op == "LIKE":
        return like(column, str(value))
    if condition.op == "ILIKE":
        return ilike(column, str(value))
    if isinstance(value, str) and value_type(condition.kind, condition.key) == "time":
        return _OPERATORS[condition.op](column, parse_time(value))
    return _OPERATORS[condition.op](column, value)


# --- one page, planned ------------------------------------------------------------------


def _page(
    session: Session,
    target: _Target[_Row],
    conditions: Sequence[Condition],
    order_by: OrderBy | None,
    limit: int,
    offset: int,
) -> list[_Row]:
    driver = _rarest(session, target, conditions)
    if not driver and order_by is not None and order_by.kind != "attribute":
        return _walk(session, target, conditions, order_by, limit, offset)
    query = _filter(select(target.entity), target, conditions, driver=driver)
    query = _order(query, target, order_by).offset(offset).limit(limit)
    return list(session.scalars(query))


def _rarest(session: Session, target: _Target[Any], conditions: Sequence[Condition]) -> _Field:
    """The field whose conditions the fewest rows meet, if fewer than :data:`SELECTIVE`.

    Conditions on one field count together (``metrics.auc > 0.8 and metrics.auc < 0.9``);
    ``!=`` ones do not count: they rarely narrow much.
    """
    fields: dict[tuple[str, str], _Field] = {}
    for condition in conditions:
        if condition.op != "!=":
            key = (condition.kind, condition.key)
            fields[key] = (*fields.get(key, ()), condition)
    counts = {field: _count_up_to(session, target, field) for field in fields.values()}
    rare = [field for field, count in counts.items() if count < SELECTIVE]
    return min(rare, key=counts.__getitem__, default=())


def _count_up_to(session: Session, target: _Target[Any], field: _Field) -> int:
    """How many rows meet the conditions on ``field``, counting no further than SELECTIVE."""
    if field[0].kind == "attribute":
        column = target.columns[field[0].key]
        tests = [_compare(column, condition) for condition in field]
        matching = select(literal(1)).select_from(target.entity).where(*tests)
    else:
        child = target.child(field[0].kind)
        matching = select(literal(1)).select_from(child.entity).where(*_field_clauses(field, child))
    counted = select(func.count()).select_from(matching.limit(SELECTIVE).subquery())
    return session.scalar(counted) or 0


def _walk(
    session: Session,
    target: _Target[_Row],
    conditions: Sequence[Condition],
    order_by: OrderBy,
    limit: int,
    offset: int,
) -> list[_Row]:
    """Rows with a value in the order's index order, then, to fill the page, rows without."""
    ranked = _ranked(target, conditions, order_by)
    rows = list(session.scalars(ranked.offset(offset).limit(limit)))
    if len(rows) == limit:
        return rows
    ranked_in_all = offset + len(rows) if rows or not offset else _count(session, ranked)
    lacking = _lacking(target, conditions, order_by)
    lacking = lacking.offset(max(0, offset - ranked_in_all)).limit(limit - len(rows))
    return rows + list(session.scalars(lacking))


def _ranked(
    target: _Target[_Row], conditions: Sequence[Condition], order_by: OrderBy
) -> Select[_Row]:
    """The rows with a value for the order's key, by that value: SQLite walks its index."""
    child = target.child(order_by.kind)
    has_value = and_(child.on, child.key == order_by.key, child.value.is_not(None))
    # attributes unindexed: an index on status must not lure SQLite off the order's index
    query = _filter(select(target.entity), target, conditions, walking=True)
    query = query.join(child.entity, has_value)
    return query.order_by(_direction(child.value, order_by), *target.tiebreak)


def _lacking(
    target: _Target[_Row], conditions: Sequence[Condition], order_by: OrderBy
) -> Select[_Row]:
    """The rows without a value for the order's key (missing or NaN), in the tiebreak order."""
    child = target.child(order_by.kind)
    has_value = exists().where(child.on, child.key == order_by.key, child.value.is_not(None))
    query = _filter(select(target.entity), target, conditions).where(~has_value)
    return query.order_by(*target.tiebreak)


def _count(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
