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
    log_digest: str | None = None  # stdout and stderr in the order written (stagelog.py)


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
    name: str | None = None
    kind: str = "pipeline"  # pipeline: `conveyor run`; script: `cv.start_run()` elsewhere


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
    name: str | None = None
    kind: str = "pipeline"
    tags: dict[str, str] = field(default_factory=dict)

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


@dataclass(frozen=True)
class RunArtifact:
    """A file or directory logged on a run, kept in the artifact store by digest."""

    run_id: str
    path: str
    digest: str
    kind: str  # file | dir
    size: int
    created_at: datetime
    stage: str | None = None


@dataclass(frozen=True)
class LoggedModel:
    """A model saved on a run (``log_model``): a model directory stored by digest."""

    id: str
    run_id: str
    name: str
    flavor: str
    digest: str
    info: dict[str, Any]
    created_at: datetime
    stage: str | None = None

    @property
    def uri(self) -> str:
        """``runs:/<run>/<name>``: how ``load_model`` and ``models register`` name it."""
        return f"runs:/{self.run_id}/{self.name}"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    model_id: str
    run_id: str
    status: str  # candidate | approved | rejected | archived
    created_at: datetime
    created_by: str | None = None
    description: str | None = None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredModel:
    """A named model with its versions' aliases."""

    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelEvent:
    """One change to a registered model: who, when, what, from -> to."""

    name: str
    version: int | None
    kind: str  # created | registered | alias | promote | status | tag | description
    actor: str | None
    at: datetime
    before: str | None = None
    after: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    """A model's stored routing table: weighted routes, shadows, sticky key, revision.

    ``routes`` are ``(version, weight)`` pairs and ``shadows`` ``(version, share)`` pairs,
    both sorted by version; ``alias_routes`` are ``(alias, weight)`` pairs, sorted by alias,
    resolved to versions whenever the table is read (routing follows the alias);
    ``revision`` counts the changes, from 1.
    """

    name: str
    routes: tuple[tuple[int, float], ...]
    shadows: tuple[tuple[int, float], ...]
    sticky: str | None
    revision: int
    updated_at: datetime
    updated_by: str | None = None
    alias_routes: tuple[tuple[str, float], ...] = ()

    def summary(self) -> str:
        """One line, as model events record it: ``3=90 4=10 shadow 5=0.2 sticky X-Key``."""
        return describe(self.routes, self.shadows, self.sticky, self.alias_routes)


def describe(
    routes: tuple[tuple[int, float], ...],
    shadows: tuple[tuple[int, float], ...] = (),
    sticky: str | None = None,
    alias_routes: tuple[tuple[str, float], ...] = (),
) -> str:
    """A routing table as one line of text (the from -> to of a ``traffic`` event)."""
    parts = [f"{alias}={weight:g}" for alias, weight in alias_routes]
    parts += [f"{version}={weight:g}" for version, weight in routes]
    parts += [f"shadow {version}={share:g}" for version, share in shadows]
    if sticky:
        parts.append(f"sticky {sticky}")
    return " ".join(parts)


@dataclass(frozen=True)
class OutcomeWindow:
    """What one model version answered in one fixed window (see
    :mod:`conveyor.monitoring.outcomes` for the bins and how windows merge).

    ``start`` is UTC, a multiple of ``window_s`` seconds since the epoch. ``latency`` holds
    request counts per fixed latency bin; ``labels`` counts predicted class labels and
    ``values`` numeric predictions per fixed value bin. ``writers`` is how many gateway
    processes' rows were summed into this window.
    """

    model: str
    version: int
    start: datetime
    window_s: int
    requests: int
    client_errors: int = 0  # 4xx: the request was refused (bad input, too large, ...)
    model_errors: int = 0  # 5xx other than 504: the model failed
    timeouts: int = 0  # 504: the model did not answer in time
    latency: tuple[int, ...] = ()
    labels: dict[str, int] = field(default_factory=dict)
    values: dict[int, int] = field(default_factory=dict)
    writers: int = 1

    @property
    def errors(self) -> int:
        """Requests that did not get a prediction."""
        return self.client_errors + self.model_errors + self.timeouts


@dataclass(frozen=True)
class ProfileWindow:
    """One writer's live profile of one model version in one window: ``body`` is the
    serialized :class:`~conveyor.monitoring.live_profile.LiveProfile` (its counts and
    sketches), ``rows`` the input rows it counted. ``start`` is UTC, a multiple of
    ``window_s`` seconds since the epoch."""

    model: str
    version: int
    start: datetime
    window_s: int
    rows: int
    body: bytes = field(repr=False)
    writer: str = ""


@dataclass(frozen=True)
class StreamEvent:
    """A model or routing event with its place in the event stream (``id`` increases in
    commit order; see :func:`conveyor.events.events_after`)."""

    id: int
    event: ModelEvent


ROLLOUT_ACTIVE = ("pending", "pretraffic", "progressing", "paused")
"""Statuses of a rollout that still owns its model's traffic (one per model at a time)."""
ROLLOUT_FINAL = ("promoted", "rolled_back", "aborted", "refused")


@dataclass(frozen=True)
class Rollout:
    """One progressive delivery of ``candidate`` in place of ``stable``.

    ``steps`` are the candidate's traffic percentages in order (canary ``5, 25, 50, 100``;
    shadow: its share in percent; ab: the candidate's side of the split; bluegreen:
    ``100``); ``step`` indexes them. ``step_started_at`` is when the current step's weights
    were applied: its verdicts judge only what was answered since. ``options`` holds the
    strategy's settings (interval, sticky key, duration...), stored as given.
    """

    id: str
    model: str
    candidate: int
    stable: int | None
    strategy: str
    steps: tuple[float, ...]
    step: int
    status: str
    options: dict[str, Any]
    started_by: str | None
    created_at: datetime
    updated_at: datetime
    step_started_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ROLLOUT_ACTIVE

    @property
    def weight(self) -> float:
        """The candidate's traffic percentage at the current step."""
        return self.steps[min(self.step, len(self.steps) - 1)] if self.steps else 0.0


@dataclass(frozen=True)
class RolloutVerdict:
    """One judgement of a rollout's step, with the evidence it rests on."""

    rollout_id: str
    step: int
    at: datetime
    decision: str  # pass | fail | inconclusive
    explanation: str
    evidence: dict[str, Any] = field(default_factory=dict)


ALERT_OPEN = ("pending", "firing")
"""States of an alert that is still open (at most one per fingerprint at a time)."""


@dataclass(frozen=True)
class Alert:
    """One occurrence of an alert rule's condition on one model version.

    ``fingerprint`` names the condition (``rule:model:version``); while the alert is open
    (``pending`` until the rule's ``for:`` has passed, then ``firing``) no other alert with
    the same fingerprint can be. ``first_seen`` is when the condition was first observed,
    ``last_seen`` the last evaluation where it held; ``value`` and ``evidence`` are that
    evaluation's. ``notifications`` counts the notifications queued for it.
    """

    id: str
    fingerprint: str
    rule: str
    kind: str  # drift | performance | error_rate | latency | no_traffic
    model: str
    version: int
    severity: str  # info | warning | critical
    state: str  # pending | firing | resolved
    value: float | None
    summary: str
    evidence: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_notified_at: datetime | None = None
    notifications: int = 0

    @property
    def open(self) -> bool:
        return self.state in ALERT_OPEN


@dataclass(frozen=True)
class FeatureGauge:
    """The latest drift evaluation of one feature of one model version (for ``/metrics``)."""

    model: str
    version: int
    feature: str
    score: float | None  # the effect size (Wasserstein in sd, Jensen-Shannon, Cohen's h)
    p_value: float | None  # after the report's multiple-testing correction
    drifted: bool
    missing_share: float | None
    evaluated_at: datetime


@dataclass(frozen=True)
class MetricGauge:
    """The latest realized value of one performance metric of one model version."""

    model: str
    version: int
    metric: str
    value: float
    n: int
    evaluated_at: datetime
