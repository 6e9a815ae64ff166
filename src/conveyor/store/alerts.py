"""SQL implementation of :class:`~conveyor.store.base.AlertRepository`.

One open alert per fingerprint is kept by the database itself: ``open_fingerprint`` holds
the fingerprint while the alert is pending or firing and NULL once it is resolved, under a
unique constraint, so two monitor loops that both believed they led could not open the
same alert twice. Every change names the state it expects to find (compare and set in one
transaction), and the notification it queued is recorded in that same transaction: the
global rate cap counts those rows.

The gauge tables hold the monitor loop's latest evaluation per model version: a drift
evaluation replaces every feature row of its version (so the loop's cap on features per
version holds), a performance evaluation replaces the rows of the metrics it measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from conveyor.errors import ConflictError, NotFoundError
from conveyor.store.engine import SessionScope
from conveyor.store.entities import ALERT_OPEN, Alert, FeatureGauge, MetricGauge
from conveyor.store.tables import (
    AlertNotificationRow,
    AlertRow,
    FeatureGaugeRow,
    MetricGaugeRow,
)

CHANGEABLE = (
    "state",
    "severity",
    "value",
    "summary",
    "evidence",
    "last_seen",
    "fired_at",
    "resolved_at",
    "last_notified_at",
    "notifications",
)


class SqlAlertRepository:
    """Alerts, their notifications, and the latest drift and performance gauges."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def open(self, rule: str | None = None) -> list[Alert]:
        """The pending and firing alerts (of ``rule`` only), oldest first."""
        query = select(AlertRow).where(AlertRow.open_fingerprint.is_not(None))
        if rule is not None:
            query = query.where(AlertRow.rule == rule)
        with self._session() as s:
            return [_entity(r) for r in s.scalars(query.order_by(AlertRow.first_seen))]

    def recent(
        self, *, model: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[Alert]:
        """Open alerts and those resolved at or after ``since`` (every one when None),
        of ``model`` only if given; open first, then newest first, at most ``limit``."""
        query = select(AlertRow)
        if since is not None:
            query = query.where(
                or_(AlertRow.open_fingerprint.is_not(None), AlertRow.resolved_at >= since)
            )
        if model is not None:
            query = query.where(AlertRow.model == model)
        order = (AlertRow.resolved_at.is_not(None), AlertRow.last_seen.desc(), AlertRow.id)
        with self._session() as s:
            return [_entity(r) for r in s.scalars(query.order_by(*order).limit(limit))]

    def save(self, alert: Alert, expect: str | None, notified: str | None = None) -> Alert:
        """Store ``alert``: a new one when ``expect`` is None, else the change of the stored
        alert whose state is ``expect`` (:class:`ConflictError` if it is not, or if a new
        alert's fingerprint is open already). ``notified`` (an event kind) records the
        notification queued for this change, at ``alert.last_notified_at``, in the same
        transaction."""
        with self._session() as s:
            if expect is None:
                s.add(_row(alert))
                try:
                    s.flush()
                except IntegrityError as exc:
                    raise ConflictError(
                        f"alert {alert.fingerprint} is open already",
                        hint="only one monitor loop may lead; see `conveyor monitor alerts`",
                    ) from exc
            else:
                row = s.get(AlertRow, alert.id, with_for_update=True)
                if row is None:
                    raise NotFoundError(f"no alert with id {alert.id!r}")
                if row.state != expect:
                    raise ConflictError(
                        f"alert {row.fingerprint} is {row.state}, not {expect}",
                        hint="only one monitor loop may lead; see `conveyor monitor alerts`",
                    )
                for key in CHANGEABLE:
                    setattr(row, key, getattr(alert, key))
                row.open_fingerprint = alert.fingerprint if alert.open else None
            if notified is not None:
                at = alert.last_notified_at or alert.last_seen
                s.add(AlertNotificationRow(alert_id=alert.id, kind=notified, at=at))
        return alert

    def notifications_since(self, since: datetime, kind: str = "alert.firing") -> int:
        """How many ``kind`` notifications were queued at or after ``since``."""
        query = select(func.count(AlertNotificationRow.id)).where(
            AlertNotificationRow.at >= since, AlertNotificationRow.kind == kind
        )
        with self._session() as s:
            return int(s.scalar(query) or 0)

    def put_features(self, model: str, version: int, gauges: Sequence[FeatureGauge]) -> None:
        """Replace every feature row of ``model`` ``version`` with ``gauges``."""
        with self._session() as s:
            s.execute(
                delete(FeatureGaugeRow).where(
                    FeatureGaugeRow.model == model, FeatureGaugeRow.version == version
                )
            )
            s.add_all(
                FeatureGaugeRow(
                    model=g.model,
                    version=g.version,
                    feature=g.feature,
                    score=g.score,
                    p_value=g.p_value,
                    drifted=g.drifted,
                    missing_share=g.missing_share,
                    evaluated_at=g.evaluated_at,
                )
                for g in gauges
            )

    def put_metrics(self, model: str, version: int, gauges: Sequence[MetricGauge]) -> None:
        """Replace the rows of the metrics in ``gauges`` for ``model`` ``version``."""
        if not gauges:
            return
        with self._session() as s:
            s.execute(
                delete(MetricGaugeRow).where(
                    MetricGaugeRow.model == model,
                    MetricGaugeRow.version == version,
                    MetricGaugeRow.metric.in_([g.metric for g in gauges]),
                )
            )
            s.add_all(
                MetricGaugeRow(
                    model=g.model,
                    version=g.version,
                    metric=g.metric,
                    value=g.value,
                    n=g.n,
                    evaluated_at=g.evaluated_at,
                )
                for g in gauges
            )

    def gauges(self, since: datetime) -> tuple[list[FeatureGauge], list[MetricGauge]]:
        """The feature and metric rows evaluated at or after ``since``."""
        features = select(FeatureGaugeRow).where(FeatureGaugeRow.evaluated_at >= since)
        metrics = select(MetricGaugeRow).where(MetricGaugeRow.evaluated_at >= since)
        feature_order = (FeatureGaugeRow.model, FeatureGaugeRow.version, FeatureGaugeRow.feature)
        metric_order = (MetricGaugeRow.model, MetricGaugeRow.version, MetricGaugeRow.metric)
        with self._session() as s:
            return (
                [
                    FeatureGauge(
                        r.model,
                        r.version,
                        r.feature,
                        r.score,
                        r.p_value,
                        r.drifted,
                        r.missing_share,
                        r.evaluated_at,
                    )
                    for r in s.scalars(features.order_by(*feature_order))
                ],
                [
                    MetricGauge(r.model, r.version, r.metric, r.value, r.n, r.evaluated_at)
                    for r in s.scalars(metrics.order_by(*metric_order))
                ],
            )

    def prune_gauges(self, before: datetime) -> int:
        """Delete gauge rows last evaluated before ``before``; how many went."""
        with self._session() as s:
            gone = s.execute(delete(FeatureGaugeRow).where(FeatureGaugeRow.evaluated_at < before))
            more = s.execute(delete(MetricGaugeRow).where(MetricGaugeRow.evaluated_at < before))
            return int(gone.rowcount or 0) + int(more.rowcount or 0)  # type: ignore[attr-defined]


def _row(a: Alert) -> AlertRow:
    return AlertRow(
        id=a.id,
        fingerprint=a.fingerprint,
        open_fingerprint=a.fingerprint if a.state in ALERT_OPEN else None,
        rule=a.rule,
        kind=a.kind,
        model=a.model,
        version=a.version,
        severity=a.severity,
        state=a.state,
        value=a.value,
        summary=a.summary,
        evidence=dict(a.evidence),
        first_seen=a.first_seen,
        last_seen=a.last_seen,
        fired_at=a.fired_at,
        resolved_at=a.resolved_at,
        last_notified_at=a.last_notified_at,
        notifications=a.notifications,
    )


def _entity(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        fingerprint=row.fingerprint,
        rule=row.rule,
        kind=row.kind,
        model=row.model,
        version=row.version,
        severity=row.severity,
        state=row.state,
        value=row.value,
        summary=row.summary,
        evidence=dict(row.evidence),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        last_notified_at=row.last_notified_at,
        notifications=row.notifications,
    )
