"""The store's interfaces: one small protocol per persistent concept.

Services depend on these, never on SQLAlchemy; a REST-backed store for CI runners talking
to a central server will implement the same protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from conveyor.store.entities import CacheEntry, NewRun, Run, StageRun


class RunRepository(Protocol):
    """Runs, their stages, params and metrics."""

    def create(self, run: NewRun) -> None: ...

    def record_stage(self, run_id: str, stage: StageRun) -> None: ...

    def finish(self, run_id: str, status: str, ended_at: datetime) -> None: ...

    def close_abandoned(self, project: str, ended_at: datetime) -> list[str]: ...

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None: ...

    def get(self, id_or_prefix: str) -> Run: ...

    def find(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        stage: str | None = None,
        limit: int = 20,
    ) -> Sequence[Run]: ...


class StageCacheRepository(Protocol):
    """The run cache: which outs a stage key produced before."""

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, entry: CacheEntry) -> None: ...
