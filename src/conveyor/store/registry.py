"""SQL implementation of :class:`~conveyor.store.base.RegistryRepository`.

Every change writes its event in the same transaction as the change itself, so the
history can never disagree with the state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conveyor.errors import ConflictError, NotFoundError, StoreError
from conveyor.ids import utcnow
from conveyor.store.engine import SessionScope
from conveyor.store.entities import ModelEvent, ModelVersion, RegisteredModel
from conveyor.store.signals import event_of, hold_event_order
from conveyor.store.tables import (
    ModelAliasRow,
    ModelEventRow,
    ModelTagRow,
    ModelVersionRow,
    RegisteredModelRow,
)

REGISTER_ATTEMPTS = 5


class SqlRegistryRepository:
    """Registered models, versions, aliases, tags and their event history."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def create_version(
        self,
        name: str,
        model_id: str,
        run_id: str,
        actor: str | None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register a new version (1 + the highest so far), creating the model if needed."""
        for attempt in range(REGISTER_ATTEMPTS):
            try:
                return self._create_version(name, model_id, run_id, actor, description)
            except StoreError as exc:  # two writers took the same number: take the next
                if (
                    not isinstance(exc.__cause__, IntegrityError)
                    or attempt == REGISTER_ATTEMPTS - 1
                ):
                    raise
        raise AssertionError("unreachable")

    def _create_version(
        self, name: str, model_id: str, run_id: str, actor: str | None, description: str | None
    ) -> ModelVersion:
        now = utcnow()
        with self._session() as s:
            hold_event_order(s)  # first: the event stream's order (store/signals.py)
            model = s.get(RegisteredModelRow, name)
            if model is None:
                s.add(RegisteredModelRow(name=name, created_at=now, updated_at=now))
                s.add(_event(name, None, "created", actor, now))
                s.flush()
            else:
                model.updated_at = now
            latest = s.scalar(
                select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name)
            )
            version = (latest or 0) + 1
            s.add(
                ModelVersionRow(
                    name=name,
                    version=version,
                    model_id=model_id,
                    run_id=run_id,
                    status="candidate",
                    description=description,
                    created_at=now,
                    created_by=actor,
                )
            )
            s.add(
                _event(
                    name,
                    version,
                    "registered",
                    actor,
                    now,
                    after=run_id,
                    details={"model_id": model_id},
                )
            )
            s.flush()
        return self.get_version(name, version)

    def model_names(self) -> list[str]:
        with self._session() as s:
            return list(
                s.scalars(select(RegisteredModelRow.name).order_by(RegisteredModelRow.name))
            )

    def get_model(self, name: str) -> RegisteredModel:
        with self._session() as s:
            row = s.get(RegisteredModelRow, name)
            if row is None:
                raise NotFoundError(f"no registered model named {name!r}")
            return self._models(s, [row])[0]

    def list_models(self) -> list[RegisteredModel]:
        with self._session() as s:
            rows = s.scalars(select(RegisteredModelRow).order_by(RegisteredModelRow.name)).all()
            return self._models(s, rows)

    def _models(self, s: Session, rows: Sequence[RegisteredModelRow]) -> list[RegisteredModel]:
        names = [row.name for row in rows]
        aliases: dict[str, dict[str, int]] = defaultdict(dict)
        for a in s.scalars(select(ModelAliasRow).where(ModelAliasRow.name.in_(names))):
            aliases[a.name][a.alias] = a.version
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for t in s.scalars(
            select(ModelTagRow).where(ModelTagRow.name.in_(names), ModelTagRow.version == 0)
        ):
            tags[t.name][t.key] = t.value
        latest: dict[str, int] = {
            name: version
            for name, version in s.execute(
                select(ModelVersionRow.name, func.max(ModelVersionRow.version))
                .where(ModelVersionRow.name.in_(names))
                .group_by(ModelVersionRow.name)
            )
        }
        return [
            RegisteredModel(
                name=row.name,
                created_at=row.created_at,
                updated_at=row.updated_at,
                description=row.description,
                latest_version=latest.get(row.name),
                aliases=aliases[row.name],
                tags=tags[row.name],
            )
            for row in rows
        ]

    def get_version(self, name: str, version: int) -> ModelVersion:
        with self._session() as s:
            row = s.get(ModelVersionRow, (name, version))
            if row is None:
                raise NotFoundError(f"model {name!r} has no version {version}")
            return self._versions(s, [row])[0]

    def list_versions(self, name: str | None = None, limit: int = 100) -> list[ModelVersion]:
        query = select(ModelVersionRow).order_by(
            ModelVersionRow.name, ModelVersionRow.version.desc()
        )
        if name is not None:
            query = query.where(ModelVersionRow.name == name)
        with self._session() as s:
            return self._versions(s, s.scalars(query.limit(limit)).all())

    def _versions(self, s: Session, rows: Sequence[ModelVersionRow]) -> list[ModelVersion]:
        names = {row.name for row in rows}
        aliases: dict[tuple[str, int], list[str]] = defaultdict(list)
        for a in s.scalars(
            select(ModelAliasRow).where(ModelAliasRow.name.in_(names)).order_by(ModelAliasRow.alias)
        ):
            aliases[(a.name, a.version)].append(a.alias)
        tags: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        for t in s.scalars(
            select(ModelTagRow).where(ModelTagRow.name.in_(names), ModelTagRow.version > 0)
        ):
            tags[(t.name, t.version)][t.key] = t.value
        return [
            ModelVersion(
                name=row.name,
                version=row.version,
                model_id=row.model_id,
                run_id=row.run_id,
                status=row.status,
                created_at=row.created_at,
                created_by=row.created_by,
                description=row.description,
                aliases=tuple(aliases[(row.name, row.version)]),
                tags=tags[(row.name, row.version)],
            )
            for row in rows
        ]

    def search_versions(
        self, where: str = "", order_by: str = "", limit: int = 100
    ) -> list[ModelVersion]:
        """Versions matching a filter (:mod:`conveyor.search`), newest first by default."""
        from conveyor.search import VERSION_ATTRIBUTES, parse_filter, parse_order_by
        from conveyor.store.engine import search_time_limit
        from conveyor.store.search import page_versions

        conditions = parse_filter(where, VERSION_ATTRIBUTES)
        order = parse_order_by(order_by, VERSION_ATTRIBUTES) if order_by else None
        with self._session() as s, search_time_limit(s):
            return self._versions(s, page_versions(s, conditions, order, limit=limit))

    def alias_version(self, name: str, alias: str) -> int | None:
        with self._session() as s:
            row = s.get(ModelAliasRow, (name, alias))
            return None if row is None else row.version

    def set_alias(
        self, name: str, alias: str, version: int, actor: str | None, kind: str = "alias"
    ) -> int | None:
        """Point ``alias`` at ``version``; returns the version it pointed at before."""
        with self._session() as s:
            hold_event_order(s)  # first: the event stream's order (store/signals.py)
            return move_alias(s, name, alias, version, actor, kind, utcnow())

    def delete_alias(
        self, name: str, alias: str, actor: str | None, version: int | None = None
    ) -> None:
        """Remove ``alias``; with ``version``, only if it still points there (checked in the
        same transaction, so a concurrent move is never deleted by mistake)."""
        now = utcnow()
        with self._session() as s:
            hold_event_order(s)  # first: the event stream's order (store/signals.py)
            row = s.get(ModelAliasRow, (name, alias), with_for_update=True)
            if row is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            if version is not None and row.version != version:
                raise ConflictError(
                    f"{name}@{alias} points at v{row.version}, not v{version}",
                    hint=f"name the version that holds it: {name} {row.version} {alias} --delete",
                )
            s.execute(
                delete(ModelAliasRow).where(
                    ModelAliasRow.name == name, ModelAliasRow.alias == alias
                )
            )
            s.add(
                _event(
                    name,
                    row.version,
                    "alias",
                    actor,
                    now,
                    before=str(row.version),
                    after=None,
                    details={"alias": alias},
                )
            )
            _touch(s, name, now)

    def set_status(self, name: str, version: int, status: str, actor: str | None) -> str:
        """Set a version's status; returns the status it had."""
        now = utcnow()
        with self._session() as s:
            hold_event_order(s)  # first: the event stream's order (store/signals.py)
            row = s.get(ModelVersionRow, (name, version))
            if row is None:
                raise NotFoundError(f"model {name!r} has no version {version}")
            before = row.status
            row.status = status
            s.add(_event(name, version, "status", actor, now, before=before, after=status))
            _touch(s, name, now)
        return before

    def set_tags(self, name: str, version: int, tags: Mapping[str, str], actor: str | None) -> None:
        """Tag the model (``version`` 0) or one of its versions."""
        now = utcnow()
        with self._session() as s:
            hold_event_order(s)  # first: the event stream's order (store/signals.py)
            for key, value in tags.items():
                old = s.get(ModelTagRow, (name, version, key))
                before = None if old is None else old.value  # merge() updates ``old`` itself
                s.merge(ModelTagRow(name=name, version=version, key=key, value=str(value)))
                s.add(
                    _event(
                        name,
                        version or None,
                        "tag",
                        actor,
                        now,
                        before=before,
                        after=str(value),
                        details={"key": key},
                    )
                )
            _touch(s, name, now)

    def events(self, name: str, version: int | None = None) -> list[ModelEvent]:
        query = select(ModelEventRow).where(ModelEventRow.name == name)
        if version is not None:
            query = query.where(ModelEventRow.version == version)
        with self._session() as s:
            return [event_of(e) for e in s.scalars(query.order_by(ModelEventRow.id))]


def move_alias(
    s: Session,
    name: str,
    alias: str,
    version: int,
    actor: str | None,
    kind: str,
    now: Any,
    reason: str | None = None,
) -> int | None:
    """Point ``alias`` at ``version`` with its event, inside the caller's transaction (which
    called :func:`hold_event_order` first); returns the version it pointed at before."""
    row = s.get(ModelAliasRow, (name, alias))
    before = None if row is None else row.version
    if row is None:
        s.add(ModelAliasRow(name=name, alias=alias, version=version))
    else:
        row.version = version
    details = {"alias": alias} if reason is None else {"alias": alias, "reason": reason}
    s.add(_event(name, version, kind, actor, now, _str(before), str(version), details))
    _touch(s, name, now)
    return before


def _event(
    name: str,
    version: int | None,
    kind: str,
    actor: str | None,
    at: Any,
    before: str | None = None,
    after: str | None = None,
    details: dict[str, Any] | None = None,
) -> ModelEventRow:
    return ModelEventRow(
        name=name,
        version=version,
        kind=kind,
        actor=actor,
        at=at,
        before=before,
        after=after,
        details=details or {},
    )


def _touch(s: Session, name: str, now: Any) -> None:
    row = s.get(RegisteredModelRow, name)
    if row is not None:
        row.updated_at = now


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)
