"""What a notifier sends: one :class:`Notification` per rollout or alert event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from conveyor.errors import InvalidValue
from conveyor.ids import new_id, utcnow

__all__ = ["EVENT_KINDS", "EventKind", "Notification"]

EventKind = Literal[
    "rollout.started",
    "rollout.step_passed",
    "rollout.paused",
    "rollout.rolled_back",
    "rollout.promoted",
    "alert.firing",
    "alert.resolved",
]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)


@dataclass(frozen=True)
class Notification:
    """One event about one model version, as every notifier receives it.

    ``dedup_key`` names the condition, not the message: a receiver (or PagerDuty) that sees
    two notifications with the same key knows they are about the same thing — the same
    rollout step, the same alert firing then resolving. It defaults to
    ``"<kind>:<model>:<version>"``. ``id`` is unique per notification and stays the same
    across delivery retries, so a receiver can drop a retry it already handled.

    Example::

        Notification("rollout.promoted", "churn", "3", "churn v3 promoted to 100%",
                     details={"steps": [5, 25, 50, 100]})
    """

    kind: EventKind
    model: str
    version: str
    summary: str  # one line, shown as the Slack text and the webhook's "summary"
    details: dict[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=utcnow)
    dedup_key: str = ""
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            expected = ", ".join(EVENT_KINDS)
            raise InvalidValue(
                f"unknown notification kind {self.kind!r}; expected one of {expected}"
            )
        if not self.dedup_key:
            object.__setattr__(self, "dedup_key", f"{self.kind}:{self.model}:{self.version}")

    def to_json(self) -> dict[str, Any]:
        """The webhook body: plain JSON types, the time in ISO 8601 UTC."""
        return {
            "id": self.id,
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "summary": self.summary,
            "details": self.details,
            "time": self.time.isoformat(),
            "dedup_key": self.dedup_key,
        }
