"""SQL implementation of :class:`~conveyor.store.base.SignalRepository`: outcome windows,
profile windows and the model event stream.

**Outcome windows** are append-only: each gateway process (the *writer*) inserts one row per
model version per window it saw, and readers sum the rows of a window. Nothing is ever
updated, so two workers or replicas writing the same window need no locking and no
backend-specific upsert (SQLite and PostgreSQL alike), and a window written twice by one
writer (after a failed flush that did commit, or a clock stepping back) still sums right.

**Profile windows** follow the same rule for the gateway's live profiles of inputs and
predictions: one row per writer per version per window, its body the serialized profile
(counts add, sketches merge; :mod:`conveyor.monitoring.live_profile` merges them on read).

**The event stream** is the ``model_events`` table read in id order: registry changes and
routing-table changes already write their event there, in the transaction of the change.
A poller that remembers the last id it saw must never miss one, so ids have to become
visible in increasing order. On SQLite they do: every write transaction holds the database's
write lock from ``BEGIN IMMEDIATE`` to commit. On PostgreSQL a sequence hands out ids at
insert time, and a transaction that took id 10 may commit after one that took id 11; a
poller that saw 11 would then skip 10. So every transaction that writes an event first takes
one transaction-scoped advisory lock (:func:`hold_event_order`), held to its commit: ids are
then taken and committed one transaction at a time. Event writers are human-paced
(promotions, traffic changes), so serializing them costs nothing that matters. Taking the
lock first, before any row lock, keeps two event writers from deadlocking; a flush check
(:func:`_check_event_order`) fails loudly if some new code writes an event without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, func, select, text
from sqlalchemy.orm import Session

from conveyor.store.engine import SessionScope
from conveyor.store.entities import ModelEvent, OutcomeWindow, ProfileWindow, StreamEvent
from conveyor.store.tables import ModelEventRow, OutcomeWindowRow, ProfileWindowRow

# Any fixed 64-bit number, the same in every Conveyor process: "cv-event" in ASCII.
EVENT_ORDER_LOCK = int.from_bytes(b"cv-event", "big") & 0x7FFF_FFFF_FFFF_FFFF
_HELD = "conveyor.event_order"


def hold_event_order(s: Session) -> None:
    """Call first in every transaction that writes a model event (see the module docstring)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_ORDER_LOCK})
    s.info[_HELD] = True


@event.listens_for(Session, "before_flush")
def _check_event_order(s: Session, _context: Any, _instances: Any) -> None:
    if not s.info.get(_HELD) and any(isinstance(row, ModelEventRow) for row in s.new):
        raise AssertionError(
            "a model event was written without hold_event_order(session) first: "
            "pollers of the event stream could miss it"
        )


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _release(s: Session) -> None:
    s.info.pop(_HELD, None)  # the advisory lock ends with the transaction


class SqlSignalRepository:
    """Outcome windows (append-only rows, summed on read) and the event stream."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def add_windows(self, windows: Sequence[OutcomeWindow], writer: str) -> None:
        """Insert ``writer``'s rows for ``windows``, all in one transaction."""
        if not windows:
            return
        with self._session() as s:
            s.add_all(_row(window, writer) for window in windows)

    def windows(
        self, model: str, since: datetime, until: datetime, version: int | None = None
    ) -> list[OutcomeWindow]:
        """Every writer's row of ``model`` with ``since <= start < until``, by start and
        version (not merged: :func:`conveyor.monitoring.outcomes.outcomes` merges)."""
        query = select(OutcomeWindowRow).where(
            OutcomeWindowRow.model == model,
            OutcomeWindowRow.start >= since,
            OutcomeWindowRow.start < until,
        )
        if version is not None:
            query = query.where(OutcomeWindowRow.version == version)
        order = (OutcomeWindowRow.start, OutcomeWindowRow.version, OutcomeWindowRow.id)
        with self._session() as s:
            return [_window(row) for row in s.scalars(query.order_by(*order))]

    def add_profiles(self, profiles: Sequence[ProfileWindow], writer: str) -> None:
        """Insert ``writer``'s live profile rows, all in one transaction."""
        if not profiles:
            return
        with self._session() as s:
            s.add_all(
                ProfileWindowRow(
                    model=p.model,
                    version=p.version,
                    start=p.start,
                    window_s=p.window_s,
                    writer=writer,
                    rows=p.rows,
                    body=p.body,
                )
                for p in profiles
            )

    def profiles(
        self, model: str, since: datetime, until: datetime, version: int | None = None
    ) -> list[ProfileWindow]:
        """Every writer's profile row of ``model`` with ``since <= start < until``, by start
        and version (merged by :mod:`conveyor.monitoring.live_profile`)."""
        query = select(ProfileWindowRow).where(
            ProfileWindowRow.model == model,
            ProfileWindowRow.start >= since,
            ProfileWindowRow.start < until,
        )
        if version is not None:
            query = query.where(ProfileWindowRow.version == version)
        order = (ProfileWindowRow.start, ProfileWindowRow.version, ProfileWindowRow.id)
        with self._session() as s:
            return [_profile(row) for row in s.scalars(query.order_by(*order))]

    def prune(self, before: datetime, *, dry_run: bool = False) -> dict[str, int]:
        """Delete every outcome and profile window that started before ``before``, in one
        transaction; how many rows of each went (or would go, with ``dry_run``)."""
        counts = {}
        with self._session() as s:
            for name, start, row in (
                ("outcome_windows", OutcomeWindowRow.start, OutcomeWindowRow),
                ("profile_windows", ProfileWindowRow.start, ProfileWindowRow),
            ):
                if dry_run:
                    found = s.scalar(select(func.count()).select_from(row).where(start < before))
                    counts[name] = int(found or 0)
                else:
                    gone = s.execute(delete(row).where(start < before))
                    counts[name] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
        return counts

    def events_after(self, after_id: int, limit: int) -> list[StreamEvent]:
        """Up to ``limit`` model and routing events with an id above ``after_id``, in order."""
        query = (
            select(ModelEventRow)
            .where(ModelEventRow.id > after_id)
            .order_by(ModelEventRow.id)
            .limit(limit)
        )
        with self._session() as s:
            return [StreamEvent(row.id, event_of(row)) for row in s.scalars(query)]

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none): where a new follower starts."""
        with self._session() as s:
            return int(s.scalar(select(func.max(ModelEventRow.id))) or 0)


def _profile(row: ProfileWindowRow) -> ProfileWindow:
    return ProfileWindow(
        row.model, row.version, row.start, row.window_s, row.rows, bytes(row.body), row.writer
    )


def _row(window: OutcomeWindow, writer: str) -> OutcomeWindowRow:
    return OutcomeWindowRow(
        model=window.model,
        version=window.version,
        start=window.start,
        window_s=window.window_s,
        writer=writer,
        requests=window.requests,
        client_errors=window.client_errors,
        model_errors=window.model_errors,
        timeouts=window.timeouts,
        latency=list(window.latency),
        labels=dict(window.labels),
        values={str(k): n for k, n in window.values.items()},  # JSON keys are strings
    )


def _window(row: OutcomeWindowRow) -> OutcomeWindow:
    return OutcomeWindow(
        model=row.model,
        version=row.version,
        start=row.start,
        window_s=row.window_s,
        requests=row.requests,
        client_errors=row.client_errors,
        model_errors=row.model_errors,
        timeouts=row.timeouts,
        latency=tuple(int(n) for n in row.latency),
        labels={str(k): int(n) for k, n in row.labels.items()},
        values={int(k): int(n) for k, n in row.values.items()},
    )


def event_of(row: ModelEventRow) -> ModelEvent:
    """A stored model event as the entity the store returns (registry and stream alike)."""
    return ModelEvent(
        name=row.name,
        version=row.version,
        kind=row.kind,
        actor=row.actor,
        at=row.at,
        before=row.before,
        after=row.after,
        details=dict(row.details),
    )
