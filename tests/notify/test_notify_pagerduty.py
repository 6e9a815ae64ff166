"""PagerDuty Events API v2 against a receiver on loopback that checks the payload's shape:
trigger then resolve under one dedup key, the routing key from the environment, retries on
429, and the default URL and events."""

from __future__ import annotations

import json

import pytest
from tests.notify.conftest import Receiver

from conveyor.errors import ConfigError
from conveyor.notify import Dispatcher, Notification, NotifyConfig, build_notifiers
from conveyor.notify.pagerduty import DEFAULT_URL

KEY = "R0UT1NGKEY-do-not-log"
ENV = {"PD_ROUTING_KEY": KEY}
FINGERPRINT = "churn-drift:churn:3"


def pagerduty(url: str, **extra: object) -> dict[str, object]:
    body = {"routing_key_env": "PD_ROUTING_KEY", "url": url, "allow_private": True, **extra}
    return {"pagerduty": body}


def alert(kind: str) -> Notification:
    return Notification(
        kind,  # type: ignore[arg-type]
        "churn",
        "3",
        "[warning] churn-drift: churn v3: 2 of 12 features drifted (age, plan)",
        details={"rule": "churn-drift", "kind": "drift", "severity": "warning", "value": 2.0},
        dedup_key=FINGERPRINT,
    )


def check_shape(body: dict[str, object]) -> None:
    """What the Events API v2 requires of every event, and of a trigger's payload."""
    assert set(body) >= {"routing_key", "event_action", "dedup_key"}
    assert body["event_action"] in ("trigger", "acknowledge", "resolve")
    assert isinstance(body["dedup_key"], str)
    assert len(body["dedup_key"]) <= 255
    if body["event_action"] == "trigger":
        payload = body["payload"]
        assert isinstance(payload, dict)
        assert set(payload) >= {"summary", "severity", "source"}
        assert payload["severity"] in ("critical", "error", "warning", "info")
        assert 0 < len(payload["summary"]) <= 1024
        assert isinstance(payload.get("custom_details", {}), dict)


def test_an_alert_triggers_then_resolves_one_incident(receiver: Receiver) -> None:
    dispatcher = Dispatcher(
        build_notifiers(NotifyConfig.model_validate([pagerduty(receiver.url)]), ENV)
    )
    dispatcher.notify(alert("alert.firing"))
    dispatcher.notify(alert("alert.resolved"))
    dispatcher.close(timeout_s=20)

    trigger, resolve = (json.loads(r.body) for r in receiver.requests)
    for body in (trigger, resolve):
        check_shape(body)
        assert (body["routing_key"], body["dedup_key"]) == (KEY, FINGERPRINT)
    assert trigger["event_action"] == "trigger"
    payload = trigger["payload"]
    assert payload["summary"].startswith("[warning] churn-drift: churn v3: 2 of 12 features")
    assert (payload["severity"], payload["source"], payload["component"]) == (
        "warning",
        "conveyor",
        "churn",
    )
    assert (payload["group"], payload["class"]) == ("churn v3", "drift")
    assert payload["custom_details"]["rule"] == "churn-drift"
    assert resolve["event_action"] == "resolve"
    assert "payload" not in resolve
    assert receiver.requests[0].headers["Content-Type"] == "application/json"


def test_a_rate_limited_event_is_retried(receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "0"})]
    dispatcher = Dispatcher(
        build_notifiers(NotifyConfig.model_validate([pagerduty(receiver.url)]), ENV)
    )
    dispatcher.notify(alert("alert.firing"))
    dispatcher.close(timeout_s=20)

    [stats] = dispatcher.stats()
    assert (stats.sent, stats.attempts) == (1, 2)
    assert len(receiver.requests) == 2


def test_defaults_pagerdutys_url_alert_events_only_and_a_key_from_the_environment() -> None:
    config = NotifyConfig.model_validate([{"pagerduty": {"routing_key_env": "PD_ROUTING_KEY"}}])
    [target] = config.targets
    assert target.url == DEFAULT_URL  # type: ignore[attr-defined]
    assert target.wants("alert.firing")
    assert not target.wants("rollout.promoted")
    with pytest.raises(ConfigError, match="routing_key_env names the environment variable"):
        build_notifiers(config, {})
    [built] = build_notifiers(config, ENV)
    assert KEY not in repr(built)


def test_a_rolled_back_rollout_pages_as_an_error_when_asked(receiver: Receiver) -> None:
    target = pagerduty(receiver.url, events=["rollout.rolled_back"])
    [built] = build_notifiers(NotifyConfig.model_validate([target]), ENV)
    built.send(Notification("rollout.rolled_back", "churn", "3", "churn v3 rolled back at 25%"))

    [got] = receiver.requests
    body = json.loads(got.body)
    check_shape(body)
    assert (body["event_action"], body["payload"]["severity"]) == ("trigger", "error")
    assert body["dedup_key"] == "rollout.rolled_back:churn:3"
