"""``- pagerduty: {...}``: PagerDuty Events API v2, one event per notification.

::

    - pagerduty:
        routing_key_env: PAGERDUTY_ROUTING_KEY   # the variable's NAME (an integration key)
        events: [alert.*]                        # the default: pages are for alerts

An ``alert.firing`` notification is a ``trigger`` event and ``alert.resolved`` a
``resolve`` event, both with ``dedup_key`` set to the alert's fingerprint, so PagerDuty
keeps one incident per alert: a repeated trigger adds to it, the resolve closes it.
Other kinds (a rolled-back rollout, if ``events`` asks for it) are triggers too, keyed by
their own ``dedup_key``. The URL defaults to PagerDuty's
(``https://events.pagerduty.com/v2/enqueue``); PagerDuty answers 202, and 429 when it
rate-limits (retried, like 5xx).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import model_validator

from conveyor.notify.base import register_notifier, secret_from_env
from conveyor.notify.config import HttpTargetConfig, TargetConfig
from conveyor.notify.events import Notification
from conveyor.notify.targets import Endpoint
from conveyor.notify.webhook import HttpTarget, endpoint_of

__all__ = ["DEFAULT_URL", "PagerDutyNotifier", "PagerDutyTarget", "pagerduty_payload"]

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = {"info": "info", "warning": "warning", "critical": "critical", "error": "error"}
KIND_SEVERITY = {"rollout.rolled_back": "error"}
SUMMARY_LIMIT = 1024  # PagerDuty's limit on payload.summary
DEDUP_LIMIT = 255  # and on dedup_key


class PagerDutyTarget(HttpTargetConfig):
    """``- pagerduty: {routing_key_env, url, source, events}``."""

    routing_key_env: str
    source: str = "conveyor"  # payload.source: where the problem is; the model is the component
    events: tuple[str, ...] = ("alert.*",)

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url") is None and data.get("url_env") is None:
            return {**data, "url": DEFAULT_URL}
        return data


def pagerduty_payload(notification: Notification, routing_key: str, source: str) -> dict[str, Any]:
    """The Events API v2 body for ``notification``."""
    dedup = notification.dedup_key
    if len(dedup) > DEDUP_LIMIT:
        dedup = hashlib.sha256(dedup.encode()).hexdigest()
    action = "resolve" if notification.kind == "alert.resolved" else "trigger"
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup,
        "client": "Conveyor",
    }
    if action == "trigger":
        severity = SEVERITIES.get(str(notification.details.get("severity")))
        body["payload"] = {
            "summary": notification.summary[:SUMMARY_LIMIT],
            "severity": severity or KIND_SEVERITY.get(notification.kind, "info"),
            "source": source,
            "timestamp": notification.time.isoformat(),
            "component": notification.model,
            "group": f"{notification.model} v{notification.version}",
            "class": str(notification.details.get("kind", notification.kind)),
            "custom_details": {**notification.details, "event": notification.kind},
        }
    return body


@register_notifier
class PagerDutyNotifier(HttpTarget):
    """A POST of :func:`pagerduty_payload` (the routing key authenticates it)."""

    key: ClassVar[str] = "pagerduty"
    config_model: ClassVar[type[TargetConfig]] = PagerDutyTarget

    def __init__(
        self, config: PagerDutyTarget, *, name: str, endpoint: Endpoint, routing_key: str
    ) -> None:
        super().__init__(config, name=name, endpoint=endpoint)
        self._routing_key = routing_key
        self._source = config.source

    @classmethod
    def from_config(
        cls, config: TargetConfig, *, name: str, environ: Mapping[str, str]
    ) -> PagerDutyNotifier:
        assert isinstance(config, PagerDutyTarget)
        key = secret_from_env(environ, config.routing_key_env, name, "routing_key_env")
        endpoint = endpoint_of(config, name, environ)
        return cls(config, name=name, endpoint=endpoint, routing_key=key)

    def send(self, notification: Notification) -> None:
        self.post_json(pagerduty_payload(notification, self._routing_key, self._source), {})

    def __repr__(self) -> str:  # never the routing key
        return f"<PagerDutyNotifier {self.endpoint.where}>"
