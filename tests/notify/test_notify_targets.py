"""The SSRF rules: which targets are refused, with an error naming the target and rule."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError
from tests.notify.conftest import Receiver

from conveyor.errors import ConfigError
from conveyor.notify import (
    Dispatcher,
    Notification,
    NotifyConfig,
    WebhookNotifier,
    WebhookTarget,
    build_notifiers,
)
from conveyor.notify.targets import forbidden_rule, parse_endpoint


def build(url: str, **extra: object) -> None:
    build_notifiers(NotifyConfig.model_validate([{"webhook": {"url": url, **extra}}]), {})


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://169.254.10.1:8080/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("ftp://example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_forbidden_targets_are_refused_even_with_allow_private(url: str, rule: str) -> None:
    with pytest.raises(ConfigError) as refused:
        build(url, allow_private=True)
    message = str(refused.value)
    assert message.startswith("notify[0] webhook")
    assert f"refused by the {rule!r} rule" in message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://[::1]:9/",
    ],
)
def test_loopback_and_private_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(ConfigError, match="refused by the 'private' rule") as refused:
        build(url)
    assert "allow_private: true" in str(refused.value)
    build(url, allow_private=True)


def test_a_public_address_passes_the_rules() -> None:
    assert forbidden_rule(ipaddress.ip_address("93.184.216.34"), allow_private=False) is None
    assert forbidden_rule(ipaddress.ip_address("2606:4700::1111"), allow_private=False) is None


def test_the_address_is_checked_again_at_send_time(receiver: Receiver) -> None:
    # A notifier whose name passed at startup and resolves to a metadata address now
    # (DNS rebinding): the send is refused, not retried, and nothing is requested.
    config = WebhookTarget(url="http://169.254.169.254/", allow_private=True)
    endpoint = parse_endpoint("http://169.254.169.254/", "notify[0] webhook")
    notifier = WebhookNotifier(config, name="notify[0] webhook", endpoint=endpoint, secret=None)
    dispatcher = Dispatcher([notifier])
    dispatcher.notify(Notification("alert.firing", "churn", "3", "drift"))
    dispatcher.close(timeout_s=5)
    [stats] = dispatcher.stats()
    assert (stats.failed, stats.attempts) == (1, 1)


def test_a_secret_variable_that_is_not_set_names_the_target_and_variable() -> None:
    config = NotifyConfig.model_validate(
        [{"webhook": {"url": "http://127.0.0.1:9/", "secret_env": "NOPE", "allow_private": True}}]
    )
    with pytest.raises(ConfigError, match=r"notify\[0\] webhook: secret_env names .*'NOPE'"):
        build_notifiers(config, {})


@pytest.mark.parametrize(
    ("block", "where", "what"),
    [
        ([{"webhook": {"url": "http://x", "secret": "inline"}}], "0.webhook.secret", "Extra"),
        ([{"webhook": {}}], "0.webhook", "exactly one of 'url' and 'url_env'"),
        (
            [{"slack": {"url": "http://x", "events": ["rollout.done"]}}],
            "0.slack.events",
            "matches no event",
        ),
        ([{"teams": {}}], "0", "unknown notifier 'teams'"),
        ([{"pagerduty": {}}], "0.pagerduty.routing_key_env", "Field required"),
        (
            [{"email": {"host": "mx", "from": "a@b.c", "to": ["d@e.f"], "ssl": True}}],
            "0.email",
            "not both",
        ),
        (
            [
                {"webhook": {"url": "http://x", "name": "a"}},
                {"slack": {"url": "http://y", "name": "a"}},
            ],
            "",
            "a is used twice",
        ),
        ([{"webhook": {"url": "http://x"}, "slack": {"url": "http://x"}}], "0", "one mapping"),
    ],
)
def test_the_notify_block_is_validated_with_locations(
    block: list[object], where: str, what: str
) -> None:
    with pytest.raises(ValidationError) as invalid:
        NotifyConfig.model_validate(block)
    [error] = invalid.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == where
    assert what in error["msg"]
