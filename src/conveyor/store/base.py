"""The store's interfaces: one small protocol per persistent concept.

Services depend on these, never on SQLAlchemy; a REST-backed store for CI runners talking
to a central server will implement the same protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from conveyor.store.entities import (
    Alert,
    CacheEntry,
    Deployment,
    FeatureGauge,
    LoggedModel,
    MetricGauge,
    ModelEvent,
    ModelVersion,
    NewRun,
    OutcomeWindow,
    ProfileWindow,
    RegisteredModel,
    Rollout,
    RolloutVerdict,
    Run,
    RunArtifact,
    StageRun,
    StreamEvent,
)


class RunRepository(Protocol):
    """Runs, their stages, params and metrics."""

    def create(self, run: NewRun) -> None: ...

    def record_stage(self, run_id: str, stage: StageRun) -> None: ...

    def finish(self, run_id: str, status: str, ended_at: datetime) -> None: ...

    def close_abandoned(self, project: str, ended_at: datetime) -> list[str]: ...

    def log_params(
        self, run_id: str, params: Mapping[str, Any], stage: str | None = None
    ) -> None: ...

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None: ...

    def log_metric_batch(
        self,
        run_id: str,
        values: Sequence[tuple[str, float, int, datetime]],
        stage: str | None = None,
    ) -> None: ...

    def logged_by_stage(
        self, run_id: str, stage: str
    ) -> tuple[dict[str, Any], list[tuple[str, float, int, datetime]]]: ...

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]: ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    def get(self, id_or_prefix: str) -> Run: ...

    def find(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        stage: str | None = None,
        where: str = "",
        order_by: str = "",
        limit: int = 20,
    ) -> Sequence[Run]: ...


class ModelRepository(Protocol):
    """Artifacts and models logged on runs."""

    def add_artifact(self, artifact: RunArtifact) -> None: ...

    def artifacts_of(self, run_id: str) -> list[RunArtifact]: ...

    def add_model(self, model: LoggedModel) -> None: ...

    def model_of(self, run_id: str, name: str | None = None) -> LoggedModel: ...

    def models_of(self, run_id: str) -> list[LoggedModel]: ...

    def get_model(self, model_id: str) -> LoggedModel: ...


class RegistryRepository(Protocol):
    """Registered models, versions, aliases, tags and their event history."""

    def create_version(
        self,
        name: str,
        model_id: str,
        run_id: str,
        actor: str | None,
        description: str | None = None,
    ) -> ModelVersion: ...

    def model_names(self) -> list[str]: ...

    def get_model(self, name: str) -> RegisteredModel: ...

    def list_models(self) -> list[RegisteredModel]: ...

    def get_version(self, name: str, version: int) -> ModelVersion: ...

    def list_versions(self, name: str | None = None, limit: int = 100) -> list[ModelVersion]: ...

    def search_versions(
        self, where: str = "", order_by: str = "", limit: int = 100
    ) -> list[ModelVersion]: ...

    def alias_version(self, name: str, alias: str) -> int | None: ...

    def set_alias(
        self, name: str, alias: str, version: int, actor: str | None, kind: str = "alias"
    ) -> int | None: ...

    def delete_alias(
        self, name: str, alias: str, actor: str | None, version: int | None = None
    ) -> None: ...

    def set_status(self, name: str, version: int, status: str, actor: str | None) -> str: ...

    def set_tags(
        self, name: str, version: int, tags: Mapping[str, str], actor: str | None
    ) -> None: ...

    def events(self, name: str, version: int | None = None) -> list[ModelEvent]: ...


class StageCacheRepository(Protocol):
    """The run cache: which outs a stage key produced before."""

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, entry: CacheEntry) -> None: ...


class DeploymentRepository(Protocol):
    """Each model's routing table; every change is a ``traffic`` model event, atomically."""

    def get(self, name: str) -> Deployment | None: ...

    def all(self) -> list[Deployment]: ...

    def revisions(self) -> dict[str, int]: ...

    def save(
        self,
        name: str,
        routes: Sequence[tuple[int, float]],
        shadows: Sequence[tuple[int, float]],
        sticky: str | None,
        actor: str | None,
        expected_revision: int,
        alias_routes: Sequence[tuple[str, float]] = (),
    ) -> Deployment: ...

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
    ) -> Deployment: ...


class SignalRepository(Protocol):
    """What the gateway records for the rollout controller and alerts: outcome windows
    and profile windows (append-only, one row per writer, merged on read) and the model
    event stream."""

    def add_windows(self, windows: Sequence[OutcomeWindow], writer: str) -> None: ...

    def windows(
        self, model: str, since: datetime, until: datetime, version: int | None = None
    ) -> list[OutcomeWindow]: ...

    def events_after(self, after_id: int, limit: int) -> list[StreamEvent]: ...

    def last_event_id(self) -> int: ...

    def add_profiles(self, profiles: Sequence[ProfileWindow], writer: str) -> None: ...

    def profiles(
        self, model: str, since: datetime, until: datetime, version: int | None = None
    ) -> list[ProfileWindow]: ...

    def prune(self, before: datetime, *, dry_run: bool = False) -> dict[str, int]: ...


class RolloutRepository(Protocol):
    """Rollouts (at most one active per model) and the verdicts of their steps."""

    def create(self, rollout: Rollout) -> Rollout: ...

    def get(self, rollout_id: str) -> Rollout: ...

    def active(self, model: str | None = None) -> list[Rollout]: ...

    def of_model(self, model: str, limit: int = 50) -> list[Rollout]: ...

    def update(
        self, rollout_id: str, expect: Sequence[str], changes: Mapping[str, Any]
    ) -> Rollout: ...

    def add_verdict(self, verdict: RolloutVerdict) -> None: ...

    def verdicts(self, rollout_id: str) -> list[RolloutVerdict]: ...


class AlertRepository(Protocol):
    """Alerts (at most one open per fingerprint), the notifications queued for them, and the
    monitor loop's latest drift and performance per model version (what /metrics shows)."""

    def open(self, rule: str | None = None) -> list[Alert]: ...

    def recent(
        self, *, model: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[Alert]: ...

    def save(self, alert: Alert, expect: str | None, notified: str | None = None) -> Alert: ...

    def notifications_since(self, since: datetime, kind: str = "alert.firing") -> int: ...

    def put_features(self, model: str, version: int, gauges: Sequence[FeatureGauge]) -> None: ...

    def put_metrics(self, model: str, version: int, gauges: Sequence[MetricGauge]) -> None: ...

    def gauges(self, since: datetime) -> tuple[list[FeatureGauge], list[MetricGauge]]: ...

    def prune_gauges(self, before: datetime) -> int: ...
