"""Webhook and Slack delivery against a real receiver on loopback: signatures, retries,
Retry-After, redirects, the queue, and secrets kept out of the logs."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
from tests.notify.conftest import Receiver

from conveyor.notify import (
    Dispatcher,
    Notification,
    NotifyConfig,
    build_notifiers,
    verify_signature,
)
from conveyor.notify.base import Notifier

SECRET = "whsec-do-not-log-7f3a9c"
ENV = {"HOOK_SECRET": SECRET}


def notifiers(*targets: dict[str, object], environ: dict[str, str] = ENV) -> list[Notifier]:
    return build_notifiers(NotifyConfig.model_validate(list(targets)), environ)


def webhook(url: str, **extra: object) -> dict[str, object]:
    return {"webhook": {"url": url, "secret_env": "HOOK_SECRET", "allow_private": True, **extra}}


def event(kind: str = "rollout.promoted", **details: object) -> Notification:
    return Notification(kind, "churn", "3", "churn v3 promoted to 100%", details=details)  # type: ignore[arg-type]


def run(dispatcher: Dispatcher, *events: Notification, timeout_s: float = 20) -> None:
    for notification in events:
        dispatcher.notify(notification)
    dispatcher.close(timeout_s=timeout_s)


def test_the_webhook_body_is_signed_and_verifies_at_the_receiver(receiver: Receiver) -> None:
    [notifier] = notifiers(webhook(receiver.url))
    notification = event(step=4, weights={"3": 100})
    notifier.send(notification)

    [got] = receiver.requests
    signature = got.headers["X-Conveyor-Signature"]
    assert verify_signature(SECRET, signature, got.body)
    assert not verify_signature(SECRET, signature, got.body.replace(b"churn", b"chirn"))
    assert not verify_signature(SECRET, signature, got.body, now=time.time() + 301)
    assert got.headers["X-Conveyor-Event-Id"] == notification.id
    assert got.headers["X-Conveyor-Event"] == "rollout.promoted"
    assert got.path == "/hook"
    body = json.loads(got.body)
    assert body["kind"] == "rollout.promoted"
    assert (body["model"], body["version"]) == ("churn", "3")
    assert body["details"] == {"step": 4, "weights": {"3": 100}}
    assert body["dedup_key"] == "rollout.promoted:churn:3"


def test_a_500_is_retried_until_it_succeeds_with_the_same_event_id(receiver: Receiver) -> None:
    receiver.script = [(500, {}), (503, {})]
    dispatcher = Dispatcher(notifiers(webhook(receiver.url)), seed=1)
    notification = event()
    run(dispatcher, notification)

    assert len(receiver.requests) == 3
    assert {r.headers["X-Conveyor-Event-Id"] for r in receiver.requests} == {notification.id}
    assert all(
        verify_signature(SECRET, r.headers["X-Conveyor-Signature"], r.body)
        for r in receiver.requests
    )
    [stats] = dispatcher.stats()
    assert (stats.sent, stats.failed, stats.attempts) == (1, 0, 3)
    first, second, third = (r.at for r in receiver.requests)
    assert second - first >= 0.25  # backoff grew
    assert third - second >= 0.5


def test_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "1"})]
    dispatcher = Dispatcher(notifiers(webhook(receiver.url)))
    run(dispatcher, event())

    first, second = (r.at for r in receiver.requests)
    assert 1.0 <= second - first < 2.0
    assert dispatcher.stats()[0].sent == 1


def test_a_retry_after_past_the_time_budget_gives_up_at_once(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script = [(503, {"Retry-After": "3600"})]
    dispatcher = Dispatcher(notifiers(webhook(receiver.url, max_total_s=5)))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="conveyor.notify"):
        run(dispatcher, event())

    assert time.monotonic() - started < 3
    assert len(receiver.requests) == 1
    assert dispatcher.stats()[0].failed == 1
    assert "answered 503" in caplog.text


def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.script = [(400, {})]
    dispatcher = Dispatcher(notifiers(webhook(receiver.url)))
    run(dispatcher, event())
    assert len(receiver.requests) == 1
    assert dispatcher.stats()[0].failed == 1


def test_a_redirect_is_not_followed(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    elsewhere = f"http://127.0.0.1:{receiver.port}/elsewhere"
    receiver.script = [(307, {"Location": elsewhere})]
    dispatcher = Dispatcher(notifiers(webhook(receiver.url)))
    with caplog.at_level(logging.WARNING, logger="conveyor.notify"):
        run(dispatcher, event())

    assert [r.path for r in receiver.requests] == ["/hook"]
    assert dispatcher.stats()[0].failed == 1
    assert "redirect, not followed" in caplog.text


def test_a_receiver_that_is_down_is_retried_up_to_max_attempts() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dispatcher = Dispatcher(notifiers(webhook(f"http://127.0.0.1:{port}/", max_attempts=3)))
    run(dispatcher, event())
    [stats] = dispatcher.stats()
    assert (stats.sent, stats.failed, stats.attempts) == (0, 1, 3)


def test_the_secret_and_signature_never_reach_the_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script = [(500, {})] * 3  # both targets fail every attempt
    slack_url = f"http://127.0.0.1:{receiver.port}/services/T000/B000/slacktoken123"
    targets = [
        webhook(receiver.url, max_attempts=2),
        {"slack": {"url_env": "SLACK_URL", "allow_private": True, "max_attempts": 1}},
    ]
    built = notifiers(*targets, environ={**ENV, "SLACK_URL": slack_url})
    dispatcher = Dispatcher(built)
    with caplog.at_level(logging.DEBUG):
        run(dispatcher, event())

    assert [s.failed for s in dispatcher.stats()] == [1, 1]  # so there was something to log
    signatures = [
        r.headers["X-Conveyor-Signature"]
        for r in receiver.requests
        if "X-Conveyor-Signature" in r.headers
    ]
    assert signatures
    logged = caplog.text + "".join(repr(n) for n in built)
    assert "not delivered after 2 attempt(s)" in logged
    assert SECRET not in logged
    assert "slacktoken123" not in logged
    for signature in signatures:
        assert signature.split("v1=")[1] not in logged


def test_a_full_queue_drops_the_oldest_and_counts_it(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.hold = threading.Event()  # the receiver stalls on the first request
    dispatcher = Dispatcher(notifiers(webhook(receiver.url)), queue_size=2)
    first, *rest = [event(n=n) for n in range(5)]
    with caplog.at_level(logging.WARNING, logger="conveyor.notify"):
        dispatcher.notify(first)
        assert receiver.arrived.wait(5)  # the worker holds `first`; the queue is empty
        started = time.monotonic()
        for notification in rest:
            dispatcher.notify(notification)
        assert time.monotonic() - started < 0.5  # notify() never waited on the receiver
        receiver.hold.set()
        dispatcher.close(timeout_s=10)

    ns = [json.loads(r.body)["details"]["n"] for r in receiver.requests]
    assert ns == [0, 3, 4]
    [stats] = dispatcher.stats()
    assert (stats.sent, stats.dropped) == (3, 2)
    assert caplog.text.count("queue full") == 1


def test_close_gives_up_at_its_deadline(receiver: Receiver) -> None:
    receiver.script = [(500, {})] * 100
    dispatcher = Dispatcher(notifiers(webhook(receiver.url, max_attempts=20)))
    dispatcher.notify(event())
    dispatcher.notify(event())
    assert receiver.arrived.wait(5)
    started = time.monotonic()
    dispatcher.close(timeout_s=1)
    assert time.monotonic() - started < 3
    [stats] = dispatcher.stats()
    assert stats.sent == 0
    assert stats.failed + stats.dropped == 2


def test_each_target_gets_only_the_events_it_asks_for(receiver: Receiver) -> None:
    other = f"http://127.0.0.1:{receiver.port}/other"
    targets = [
        webhook(receiver.url, events=["rollout.rolled_back"]),
        webhook(other, events=["alert.*"]),
    ]
    run(
        Dispatcher(notifiers(*targets)),
        event("rollout.promoted"),
        event("alert.firing"),
        event("rollout.rolled_back"),
    )
    got = sorted((r.path, json.loads(r.body)["kind"]) for r in receiver.requests)
    assert got == [("/hook", "rollout.rolled_back"), ("/other", "alert.firing")]


def test_the_slack_payload_has_text_and_blocks(receiver: Receiver) -> None:
    [notifier] = notifiers({"slack": {"url": receiver.url, "allow_private": True}})
    notifier.send(event("rollout.rolled_back", reason="error rate 3.1% vs 1.0%"))
    [got] = receiver.requests
    payload = json.loads(got.body)
    assert "churn v3 promoted to 100%" in payload["text"]
    kinds = [block["type"] for block in payload["blocks"]]
    assert kinds == ["section", "section", "context"]
    assert payload["blocks"][1]["fields"][0]["text"] == "*reason*\nerror rate 3.1% vs 1.0%"
    assert "X-Conveyor-Signature" not in got.headers


def test_a_receiver_that_does_not_answer_times_out_and_is_retried(receiver: Receiver) -> None:
    receiver.hold = threading.Event()  # never set while the test runs: no answer comes
    dispatcher = Dispatcher(notifiers(webhook(receiver.url, timeout_s=0.3, max_attempts=2)))
    started = time.monotonic()
    run(dispatcher, event())
    assert time.monotonic() - started < 3
    assert len(receiver.requests) == 2
    [stats] = dispatcher.stats()
    assert (stats.failed, stats.attempts) == (1, 2)
