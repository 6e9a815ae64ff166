"""SQL implementation of :class:`~conveyor.store.base.RolloutRepository`.

One active rollout per model is kept by the database itself: ``active_model`` holds the
model's name while the rollout is active and NULL once it ends, under a unique constraint,
so two ``conveyor deploy`` at once cannot both start one. Every status change names the
statuses it expects to find (compare and set in one transaction): a ``pause`` typed while
the controller advances the step wins or loses cleanly, never half.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from conveyor.errors import ConflictError, NotFoundError
from conveyor.ids import utcnow
from conveyor.store.engine import SessionScope
from conveyor.store.entities import ROLLOUT_ACTIVE, Rollout, RolloutVerdict
from conveyor.store.tables import RegisteredModelRow, RolloutRow, RolloutVerdictRow

CHANGEABLE = frozenset({"step", "status", "step_started_at", "ended_at", "reason", "stable"})


class SqlRolloutRepository:
    """Rollouts and their verdicts."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def create(self, rollout: Rollout) -> Rollout:
        """Store a new rollout; a :class:`ConflictError` naming the running one if the model
        has an active rollout already."""
        with self._session() as s:
            if s.get(RegisteredModelRow, rollout.model) is None:
                raise NotFoundError(f"no registered model named {rollout.model!r}")
            running = s.scalar(select(RolloutRow).where(RolloutRow.active_model == rollout.model))
            if running is not None:
                raise _running(_entity(running))
            s.add(_row(rollout))
            try:
                s.flush()
            except IntegrityError as exc:  # another deploy won the race
                raise ConflictError(
                    f"model {rollout.model!r} already has an active rollout (started just now)",
                    hint=f"see `conveyor rollout status {rollout.model}`",
                ) from exc
        return rollout

    def get(self, rollout_id: str) -> Rollout:
        """The rollout with id ``rollout_id``."""
        with self._session() as s:
            row = s.get(RolloutRow, rollout_id)
            if row is None:
                raise NotFoundError(f"no rollout with id {rollout_id!r}")
            return _entity(row)

    def active(self, model: str | None = None) -> list[Rollout]:
        """The active rollouts (of ``model`` only: at most one), oldest first."""
        query = select(RolloutRow).where(RolloutRow.active_model.is_not(None))
        if model is not None:
            query = query.where(RolloutRow.active_model == model)
        with self._session() as s:
            return [_entity(r) for r in s.scalars(query.order_by(RolloutRow.created_at))]

    def of_model(self, model: str, limit: int = 50) -> list[Rollout]:
        """``model``'s rollouts, newest first."""
        query = (
            select(RolloutRow)
            .where(RolloutRow.model == model)
            .order_by(RolloutRow.created_at.desc(), RolloutRow.id)
            .limit(limit)
        )
        with self._session() as s:
            return [_entity(r) for r in s.scalars(query)]

    def update(self, rollout_id: str, expect: Sequence[str], changes: Mapping[str, Any]) -> Rollout:
        """Apply ``changes`` if the rollout's status is one of ``expect``; otherwise a
        :class:`ConflictError` saying what it is now."""
        unknown = set(changes) - CHANGEABLE
        if unknown:
            raise ValueError(f"rollout fields {sorted(unknown)} cannot be changed")
        with self._session() as s:
            row = s.get(RolloutRow, rollout_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no rollout with id {rollout_id!r}")
            if row.status not in expect:
                raise ConflictError(
                    f"rollout {rollout_id} of {row.model!r} is {row.status}, "
                    f"not {' or '.join(expect)}",
                    hint=f"see `conveyor rollout status {row.model}`",
                )
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            if row.status not in ROLLOUT_ACTIVE:
                row.active_model = None
                row.ended_at = row.ended_at or row.updated_at
            s.flush()
            return _entity(row)

    def add_verdict(self, verdict: RolloutVerdict) -> None:
        """Store one verdict with its evidence."""
        with self._session() as s:
            s.add(
                RolloutVerdictRow(
                    rollout_id=verdict.rollout_id,
                    step=verdict.step,
                    at=verdict.at,
                    decision=verdict.decision,
                    explanation=verdict.explanation,
                    evidence=dict(verdict.evidence),
                )
            )

    def verdicts(self, rollout_id: str) -> list[RolloutVerdict]:
        """Every verdict of the rollout, oldest first."""
        query = (
            select(RolloutVerdictRow)
            .where(RolloutVerdictRow.rollout_id == rollout_id)
            .order_by(RolloutVerdictRow.id)
        )
        with self._session() as s:
            return [
                RolloutVerdict(
                    r.rollout_id, r.step, r.at, r.decision, r.explanation, dict(r.evidence)
                )
                for r in s.scalars(query)
            ]


def _running(rollout: Rollout) -> ConflictError:
    return ConflictError(
        f"model {rollout.model!r} already has an active rollout: {rollout.id} "
        f"({rollout.strategy} of v{rollout.candidate}, {rollout.status}, "
        f"started by {rollout.started_by or 'unknown'} at {rollout.created_at:%Y-%m-%d %H:%M} UTC)",
        hint=f"wait for it, or end it: `conveyor rollout abort {rollout.model}`",
    )


def _row(r: Rollout) -> RolloutRow:
    return RolloutRow(
        id=r.id,
        model=r.model,
        active_model=r.model if r.active else None,
        candidate=r.candidate,
        stable=r.stable,
        strategy=r.strategy,
        steps=list(r.steps),
        step=r.step,
        status=r.status,
        options=dict(r.options),
        started_by=r.started_by,
        created_at=r.created_at,
        updated_at=r.updated_at,
        step_started_at=r.step_started_at,
        ended_at=r.ended_at,
        reason=r.reason,
    )


def _entity(row: RolloutRow) -> Rollout:
    return Rollout(
        id=row.id,
        model=row.model,
        candidate=row.candidate,
        stable=row.stable,
        strategy=row.strategy,
        steps=tuple(float(x) for x in row.steps),
        step=row.step,
        status=row.status,
        options=dict(row.options),
        started_by=row.started_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        step_started_at=row.step_started_at,
        ended_at=row.ended_at,
        reason=row.reason,
    )
