"""The metadata schema. Rows never leave the store: repositories turn them into entities.

Changing a table means adding an Alembic revision under ``migrations/versions``; a test
checks that the migrations produce exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and read back UTC-aware, on every backend.

    SQLite keeps no offset: without this, a time in another zone would be stored as its
    wall-clock reading, and every time would come back naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _utc(value)


def _utc(moment: datetime) -> datetime:
    """Naive times are UTC already: every time Conveyor stores is."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
    }


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    git_commit: Mapped[str | None] = mapped_column(String(64))
    git_branch: Mapped[str | None] = mapped_column(String(255))
    git_dirty: Mapped[bool | None]
    user: Mapped[str | None] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(32))
    project: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="pipeline")  # pipeline | script
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StageRunRow(Base):
    __tablename__ = "stage_runs"
    __table_args__ = (Index("ix_stage_runs_stage", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    key: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    exit_code: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(Text)
    stdout_digest: Mapped[str | None] = mapped_column(String(64))
    stderr_digest: Mapped[str | None] = mapped_column(String(64))
    log_digest: Mapped[str | None] = mapped_column(String(64))
    deps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outs: Mapped[dict[str, Any]] = mapped_column(default=dict)


def _run_key() -> Mapped[str]:
    return mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)


class ParamRow(Base):
    __tablename__ = "params"
    __table_args__ = (Index("ix_params_key_text", "key", "text"),)

    run_id: Mapped[str] = _run_key()
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON text of the value
    text: Mapped[str | None] = mapped_column(Text)  # the value as a string, for search
    stage: Mapped[str | None] = mapped_column(String(255))  # whose script logged it


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = (Index("ix_tags_key_value", "key", "value"),)

    run_id: Mapped[str] = _run_key()
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LatestMetricRow(Base):
    """The value of each metric at its highest step: what search filters and sorts on."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index("ix_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[str] = _run_key()
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)  # NULL stands for NaN
    step: Mapped[int] = mapped_column(Integer)


class RunArtifactRow(Base):
    """A file or directory logged on a run (``log_artifact``), stored by digest."""

    __tablename__ = "run_artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class LoggedModelRow(Base):
    """A model saved on a run: its files (a directory digest), flavor and signature."""

    __tablename__ = "logged_models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    flavor: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    info: Mapped[dict[str, Any]]  # signature, requirements, library versions, files
    created_at: Mapped[datetime]


class MetricRow(Base):
    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_run_key", "run_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[float | None] = mapped_column(Float)  # NULL stands for NaN (SQLite has none)
    step: Mapped[int] = mapped_column(Integer, default=0)
    logged_at: Mapped[datetime]
    stage: Mapped[str | None] = mapped_column(String(255))  # whose script logged it


class StageCacheRow(Base):
    """The run cache: a stage key seen before, and the outs it produced."""

    __tablename__ = "stage_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(255))
    outs: Mapped[dict[str, Any]]
    run_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ModelVersionRow(Base):
    __tablename__ = "model_versions"

    name: Mapped[str] = mapped_column(
        ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("logged_models.id"))
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))  # candidate|approved|rejected|archived
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(255))


class ModelAliasRow(Base):
    __tablename__ = "model_aliases"

    name: Mapped[str] = mapped_column(
        ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ModelTagRow(Base):
    """A tag on a registered model (version 0) or on one of its versions."""

    __tablename__ = "model_tags"

    name: Mapped[str] = mapped_column(
        ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelEventRow(Base):
    """Every change to a registered model: who, when, what, from -> to."""

    __tablename__ = "model_events"
    __table_args__ = (Index("ix_model_events_name", "name", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime]
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DeploymentRow(Base):
    """A model's routing table: what ``conveyor traffic`` sets and the gateway polls."""

    __tablename__ = "deployments"

    name: Mapped[str] = mapped_column(
        ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True
    )
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"version": 3, "weight": 90}]
    shadows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"version": 5, "share": 0.2}]
    sticky: Mapped[str | None] = mapped_column(String(255))
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(255))


class OutcomeWindowRow(Base):
    """One gateway process's outcomes of one model version in one window; rows of several
    writers (workers, replicas) for the same window are summed on read, never updated."""

    __tablename__ = "outcome_windows"
    __table_args__ = (Index("ix_outcome_windows_model_start", "model", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    start: Mapped[datetime]
    window_s: Mapped[int] = mapped_column(Integer)
    writer: Mapped[str] = mapped_column(String(128))
    requests: Mapped[int] = mapped_column(Integer)
    client_errors: Mapped[int] = mapped_column(Integer)
    model_errors: Mapped[int] = mapped_column(Integer)
    timeouts: Mapped[int] = mapped_column(Integer)
    latency: Mapped[list[int]] = mapped_column(JSON)  # counts per latency bin
    labels: Mapped[dict[str, Any]]  # {"label": count}
    values: Mapped[dict[str, Any]]  # {"value bin": count}


class ProfileWindowRow(Base):
    """One gateway process's live profile of one model version in one window (zlib JSON,
    :mod:`conveyor.monitoring.live_profile`); rows of several writers are merged on read."""

    __tablename__ = "profile_windows"
    __table_args__ = (Index("ix_profile_windows_model_start", "model", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    start: Mapped[datetime]
    window_s: Mapped[int] = mapped_column(Integer)
    writer: Mapped[str] = mapped_column(String(128))
    rows: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class RolloutRow(Base):
    """A rollout: its plan, where it stands, who started it. ``active_model`` is the model
    while the rollout is active and NULL after, so a unique constraint on it allows one
    active rollout per model on every backend (NULLs never collide)."""

    __tablename__ = "rollouts"
    __table_args__ = (Index("ix_rollouts_model", "model"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(
        ForeignKey("registered_models.name", ondelete="CASCADE"), nullable=False
    )
    active_model: Mapped[str | None] = mapped_column(String(255), unique=True)
    candidate: Mapped[int] = mapped_column(Integer)
    stable: Mapped[int | None] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(32))
    steps: Mapped[list[float]] = mapped_column(JSON)
    step: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    step_started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)


class RolloutVerdictRow(Base):
    """One verdict of one rollout step, with its evidence."""

    __tablename__ = "rollout_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[str] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    decision: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class AlertRow(Base):
    """One alert. ``open_fingerprint`` is the fingerprint while the alert is open (pending or
    firing) and NULL once resolved, so a unique constraint on it keeps one open alert per
    fingerprint on every backend (NULLs never collide)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_model_last_seen", "model", "last_seen"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(600), index=True)
    open_fingerprint: Mapped[str | None] = mapped_column(String(600), unique=True)
    rule: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    notifications: Mapped[int] = mapped_column(Integer)


class AlertNotificationRow(Base):
    """One notification queued for an alert: what the global rate cap counts."""

    __tablename__ = "alert_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # alert.firing | alert.resolved
    at: Mapped[datetime] = mapped_column(index=True)


class FeatureGaugeRow(Base):
    """The monitor loop's latest drift evaluation of one feature of one model version."""

    __tablename__ = "feature_gauges"

    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature: Mapped[str] = mapped_column(String(255), primary_key=True)
    score: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    drifted: Mapped[bool]
    missing_share: Mapped[float | None] = mapped_column(Float)
    evaluated_at: Mapped[datetime] = mapped_column(index=True)


class MetricGaugeRow(Base):
    """The monitor loop's latest realized value of one metric of one model version."""

    __tablename__ = "metric_gauges"

    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    evaluated_at: Mapped[datetime] = mapped_column(index=True)
