"""An alert's life, as a pure function of what is stored, what was observed, and the time.

::

                  holds                      held for `for:`               clears
    (none) ──────────────▶ pending ──────────────────────────▶ firing ──────────▶ resolved
                              │  clears (never fired: no notification)   │
                              └──────────────────────────▶ resolved      └─ holds: notified
                                                                            again after
                                                                            repeat_interval

- ``for: 0`` (the default) fires at the first observation that holds.
- A firing alert's notification is queued when it fires, then again while it still holds
  once ``repeat_interval`` has passed since the last one.
- ``may_notify`` is False when the global cap (``max_notifications_per_hour``) is spent: the
  alert fires all the same and is notified on a later pass (it is due, never notified).
- Resolving sends ``alert.resolved`` only for an alert that was notified as firing, and is
  never held back by the cap: a receiver that heard "firing" must hear "resolved".
- An observation with ``holds=None`` (too little data) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.ids import new_id
from conveyor.notify.events import Notification
from conveyor.store.entities import Alert

if TYPE_CHECKING:
    from conveyor.monitoring.alerts.config import AlertRule
    from conveyor.monitoring.alerts.evaluate import Observation

__all__ = ["Step", "fingerprint", "notification", "resolve", "step"]

FIRING = "alert.firing"
RESOLVED = "alert.resolved"


@dataclass(frozen=True)
class Step:
    """What to store (``alert``; None: nothing changed), the state the stored alert must be
    in (``expect``; None for a new one), and the notification to queue (``notify``)."""

    alert: Alert | None
    expect: str | None = None
    notify: str | None = None


def fingerprint(rule: str, model: str, version: int) -> str:
    """``rule:model:version``: names the condition (rule and model names hold no colon)."""
    return f"{rule}:{model}:{version}"


def step(
    current: Alert | None,
    seen: Observation,
    rule: AlertRule,
    model: str,
    version: int,
    now: datetime,
    *,
    repeat_s: float,
    may_notify: bool,
) -> Step:
    """The next state of ``rule``'s alert on ``model`` ``version`` after observing ``seen``."""
    if seen.holds is None:
        return Step(None)
    if current is None:
        if not seen.holds:
            return Step(None)
        opened = _new(seen, rule, model, version, now)
        return _fire_if_due(opened, None, rule, now, repeat_s, may_notify)
    if not seen.holds:
        return resolve(current, now, seen.summary, seen.value, seen.evidence)
    updated = replace(
        current,
        value=seen.value,
        summary=seen.summary,
        evidence=seen.evidence,
        severity=rule.severity,
        last_seen=now,
    )
    return _fire_if_due(updated, current.state, rule, now, repeat_s, may_notify)


def resolve(
    current: Alert,
    now: datetime,
    summary: str,
    value: float | None = None,
    evidence: dict[str, Any] | None = None,
) -> Step:
    """``current`` resolved now: notified (``alert.resolved``) if it was notified firing."""
    done = replace(
        current,
        state="resolved",
        resolved_at=now,
        summary=summary,
        value=value if value is not None else current.value,
        evidence=evidence if evidence is not None else current.evidence,
    )
    notify = RESOLVED if current.state == "firing" and current.notifications > 0 else None
    if notify is not None:
        done = replace(done, last_notified_at=now, notifications=current.notifications + 1)
    return Step(done, current.state, notify)


def notification(alert: Alert, kind: str, rule: AlertRule | None) -> Notification:
    """The notification of ``alert``'s change (``alert.firing`` or ``alert.resolved``);
    ``dedup_key`` is the fingerprint, so a receiver groups every notification of it."""
    repeat = kind == FIRING and alert.notifications > 1
    head = f"[{alert.severity}] {alert.rule}" if kind == FIRING else f"resolved: {alert.rule}"
    details: dict[str, Any] = {
        "rule": alert.rule,
        "kind": alert.kind,
        "severity": alert.severity,
        "state": alert.state,
        "value": alert.value,
        "since": alert.first_seen.isoformat(),
        "fingerprint": alert.fingerprint,
        "repeat": repeat,
    }
    if rule is not None:
        details["window"] = rule.window if rule.window is not None else f"{rule.window_s:g}s"
        details["threshold"] = rule.threshold()
    details["evidence"] = alert.evidence
    time = alert.last_notified_at or alert.last_seen
    return Notification(
        kind,  # type: ignore[arg-type]
        alert.model,
        str(alert.version),
        f"{head}: {alert.summary}",
        details=details,
        time=time,
        dedup_key=alert.fingerprint,
    )


def _new(seen: Observation, rule: AlertRule, model: str, version: int, now: datetime) -> Alert:
    return Alert(
        id=new_id(),
        fingerprint=fingerprint(rule.name, model, version),
        rule=rule.name,
        kind=rule.when,
        model=model,
        version=version,
        severity=rule.severity,
        state="pending",
        value=seen.value,
        summary=seen.summary,
        evidence=seen.evidence,
        first_seen=now,
        last_seen=now,
    )


def _fire_if_due(
    alert: Alert,
    expect: str | None,
    rule: AlertRule,
    now: datetime,
    repeat_s: float,
    may_notify: bool,
) -> Step:
    """``alert`` (holding now) fired once ``for:`` has passed, and notified when due."""
    if alert.state == "pending":
        if (now - alert.first_seen).total_seconds() < rule.for_s:
            return Step(alert, expect)
        alert = replace(alert, state="firing", fired_at=now)
    last = alert.last_notified_at
    due = last is None or (now - last).total_seconds() >= repeat_s
    if not (due and may_notify):
        return Step(alert, expect)
    notified = replace(alert, last_notified_at=now, notifications=alert.notifications + 1)
    return Step(notified, expect, FIRING)
