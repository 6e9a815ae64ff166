"""Plain, frozen values that repositories return; services never see ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StageRun:
    """What happened to one stage in one run."""

    stage: str
    status: str  # ran | cached | unchanged | failed | skipped | interrupted
    key: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    exit_code: int | None = None
    message: str | None = None
    stdout_digest: str | None = None
    stderr_digest: str | None = None
    deps: dict[str, Any] = field(default_factory=dict)
    outs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewRun:
    """What is known when a run starts."""

    id: str
    started_at: datetime
    project: str
    trigger: str
    user: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """A recorded run with its stages, params and latest metric values."""

    id: str
    status: str  # running | success | failed | interrupted | crashed
    started_at: datetime
    ended_at: datetime | None
    project: str
    trigger: str
    user: str | None
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    targets: tuple[str, ...]
    params: dict[str, Any]
    metrics: dict[str, float]
    stages: tuple[StageRun, ...]

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class CacheEntry:
    """A run-cache entry: stage key -> the outs it produced."""

    key: str
    stage: str
    outs: dict[str, Any]
    run_id: str | None
    created_at: datetime
