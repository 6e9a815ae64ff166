"""SQL implementation of :class:`~conveyor.store.base.DeploymentRepository`.

A save checks, inside its one transaction, that the model and every version it names exist
and may serve, and that nobody changed the table since it was read (its revision); it then
writes the table and a ``traffic`` model event together, so the history can never disagree
with the table a gateway loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conveyor.errors import ConflictError, NotFoundError
from conveyor.ids import utcnow
from conveyor.store.engine import SessionScope
from conveyor.store.entities import Deployment
from conveyor.store.registry import move_alias
from conveyor.store.signals import hold_event_order
from conveyor.store.tables import (
    DeploymentRow,
    ModelAliasRow,
    ModelEventRow,
    ModelVersionRow,
    RegisteredModelRow,
)

UNSERVABLE = ("archived", "rejected")


class SqlDeploymentRepository:
    """Each model's routing table, with its change history in ``model_events``."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def get(self, name: str) -> Deployment | None:
        """The stored table of model ``name``, or None if it has none."""
        with self._session() as s:
            row = s.get(DeploymentRow, name)
            return None if row is None else _entity(row)

    def all(self) -> list[Deployment]:
        """Every stored table, by model name."""
        with self._session() as s:
            return [_entity(row) for row in s.scalars(select(DeploymentRow).order_by("name"))]

    def revisions(self) -> dict[str, int]:
        """Each model's table revision: one small query a polling gateway can afford."""
        with self._session() as s:
            rows = s.execute(select(DeploymentRow.name, DeploymentRow.revision))
            return {name: revision for name, revision in rows}

    def save(
        self,
        name: str,
        routes: Sequence[tuple[int, float]],
        shadows: Sequence[tuple[int, float]],
        sticky: str | None,
        actor: str | None,
        expected_revision: int,
        alias_routes: Sequence[tuple[str, float]] = (),
    ) -> Deployment:
        """Store the table as revision ``expected_revision + 1`` (0: the model has none yet).

        ``alias_routes`` (``("champion", 90.0)``) route to whatever version the alias names
        when the table is read; each alias must exist now."""
        with self._session() as s:
            hold_event_order(s)  # first: the event stream's order (store/signals.py)
            return _save(s, name, routes, shadows, sticky, actor, expected_revision, alias_routes)

    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        actor: str | None,
        expected_revision: int,
        kind: str = "promote",
        reason: str | None = None,
        by_alias: bool = False,
    ) -> Deployment:
        """Point ``alias`` at ``version`` and send it all of ``name``'s traffic (no shadows,
        the sticky key kept), in one transaction: routing follows the alias, so a reader
        never sees the alias moved without the table or the other way round. ``kind`` is
        the alias event's (``promote`` or ``rollback``), ``reason`` goes in its details.

        ``by_alias``: the table becomes ``alias=100`` rather than ``version=100``, so it
        goes on following the alias (the alias moves first, so it exists when the table
        names it); otherwise the table names the version."""
        with self._session() as s:
            hold_event_order(s)
            row = s.get(DeploymentRow, name)
            sticky = None if row is None else row.sticky
            if by_alias:
                move_alias(s, name, alias, version, actor, kind, utcnow(), reason)
                by = [(alias, 100.0)]
                return _save(s, name, [], [], sticky, actor, expected_revision, by)
            saved = _save(s, name, [(version, 100.0)], [], sticky, actor, expected_revision)
            move_alias(s, name, alias, version, actor, kind, saved.updated_at, reason)
            return saved


def _save(
    s: Session,
    name: str,
    routes: Sequence[tuple[int, float]],
    shadows: Sequence[tuple[int, float]],
    sticky: str | None,
    actor: str | None,
    expected_revision: int,
    alias_routes: Sequence[tuple[str, float]] = (),
) -> Deployment:
    """The body of :meth:`SqlDeploymentRepository.save`, in the caller's transaction."""
    now = utcnow()
    _check_versions(s, name, [v for v, _ in routes] + [v for v, _ in shadows])
    _check_aliases(s, name, [a for a, _ in alias_routes])
    row = s.get(DeploymentRow, name, with_for_update=True)  # PostgreSQL: lock the row
    _check_revision(name, row, expected_revision)
    before = None if row is None else _entity(row).summary()
    if row is None:
        row = DeploymentRow(name=name)
        s.add(row)
    row.routes = [{"alias": a, "weight": float(w)} for a, w in sorted(alias_routes)] + [
        {"version": v, "weight": float(w)} for v, w in sorted(routes)
    ]
    row.shadows = [{"version": v, "share": float(share)} for v, share in sorted(shadows)]
    row.sticky = sticky
    row.revision = expected_revision + 1
    row.updated_at = now
    row.updated_by = actor
    try:
        s.flush()
    except IntegrityError as exc:  # another writer created the table first
        raise _changed(name, expected_revision, None) from exc
    saved = _entity(row)
    s.add(_traffic_event(saved, before))
    model = s.get(RegisteredModelRow, name)
    if model is not None:
        model.updated_at = now
    return saved


def _check_versions(s: Session, name: str, versions: list[int]) -> None:
    if s.get(RegisteredModelRow, name) is None:
        raise NotFoundError(
            f"no registered model named {name!r}",
            hint="register a version first (`conveyor models register RUN --name NAME`)",
        )
    rows = s.execute(
        select(ModelVersionRow.version, ModelVersionRow.status).where(ModelVersionRow.name == name)
    )
    statuses = {version: status for version, status in rows}
    missing = sorted(set(versions) - set(statuses))
    if missing:
        raise NotFoundError(
            f"model {name!r} has no version {', '.join(map(str, missing))} "
            f"(its versions: {', '.join(map(str, sorted(statuses))) or 'none'})",
            hint=f"see `conveyor models show {name}`",
        )
    unservable = sorted(v for v in set(versions) if statuses[v] in UNSERVABLE)
    if unservable:
        listed = ", ".join(f"{name}/{v} is {statuses[v]}" for v in unservable)
        raise ConflictError(
            f"{listed}; archived and rejected versions cannot receive traffic",
            hint="route to candidate or approved versions only",
        )


def _check_aliases(s: Session, name: str, aliases: list[str]) -> None:
    if not aliases:
        return
    rows = s.scalars(select(ModelAliasRow.alias).where(ModelAliasRow.name == name))
    known = sorted(rows)
    missing = sorted(set(aliases) - set(known))
    if missing:
        raise NotFoundError(
            f"model {name!r} has no alias {', '.join(missing)} "
            f"(its aliases: {', '.join(known) or 'none'})",
            hint=f"set it first (`conveyor models alias {name} VERSION {missing[0]}`) "
            "or route by version number",
        )


def _check_revision(name: str, row: DeploymentRow | None, expected: int) -> None:
    current = 0 if row is None else row.revision
    if current != expected:
        raise _changed(name, expected, row)


def _changed(name: str, expected: int, row: DeploymentRow | None) -> ConflictError:
    stored = "" if row is None else f", {row.revision} is stored"
    by = "" if row is None else f" (by {row.updated_by or 'unknown'} at {row.updated_at:%X} UTC)"
    return ConflictError(
        f"the routing table of {name!r} changed while this change was being made: "
        f"revision {expected} was read{stored}{by}",
        hint="look at `conveyor traffic show` and apply the change again",
    )


def _entity(row: DeploymentRow) -> Deployment:
    # A route is {"version": 3, "weight": 90} or, following an alias, {"alias": ..., ...}.
    by_alias = [r for r in row.routes if "alias" in r]
    by_version = [r for r in row.routes if "alias" not in r]
    return Deployment(
        name=row.name,
        routes=tuple((int(r["version"]), float(r["weight"])) for r in by_version),
        alias_routes=tuple((str(r["alias"]), float(r["weight"])) for r in by_alias),
        shadows=tuple((int(r["version"]), float(r["share"])) for r in row.shadows),
        sticky=row.sticky,
        revision=row.revision,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _traffic_event(saved: Deployment, before: str | None) -> ModelEventRow:
    details: dict[str, Any] = {"revision": saved.revision}
    return ModelEventRow(
        name=saved.name,
        version=None,
        kind="traffic",
        actor=saved.updated_by,
        at=saved.updated_at,
        before=before,
        after=saved.summary(),
        details=details,
    )
