"""``- webhook: {...}``: the notification as a JSON POST, signed when a secret is named.

Headers: ``Content-Type: application/json``, ``X-Conveyor-Event: <kind>``,
``X-Conveyor-Event-Id: <id>`` (the same on every retry) and, with ``secret_env``,
``X-Conveyor-Signature: t=<unix>,v1=<hex>`` (``signing.py``), computed afresh per attempt
so a retry after minutes is not refused as a replay.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import ClassVar

from conveyor.notify.base import register_notifier, secret_from_env
from conveyor.notify.config import HttpTargetConfig, TargetConfig, WebhookTarget
from conveyor.notify.events import Notification
from conveyor.notify.signing import SIGNATURE_HEADER, sign
from conveyor.notify.targets import Endpoint, parse_endpoint, resolve_allowed
from conveyor.notify.transport import post

__all__ = ["HttpTarget", "WebhookNotifier", "endpoint_of"]

USER_AGENT = "conveyor-notify/1"


def endpoint_of(config: HttpTargetConfig, name: str, environ: Mapping[str, str]) -> Endpoint:
    """The target's URL (given, or read from ``url_env``) checked against the SSRF rules.

    Resolving here refuses a bad target at startup; a name that does not resolve yet is
    left to the first send (a retryable failure), so a DNS hiccup cannot stop the server.
    """
    url = config.url or secret_from_env(environ, config.url_env or "", name, "url_env")
    endpoint = parse_endpoint(url, name)
    with contextlib.suppress(OSError):
        resolve_allowed(endpoint, allow_private=config.allow_private)
    return endpoint


class HttpTarget:
    """What the HTTP kinds share: a checked endpoint and one POST of a JSON body."""

    def __init__(self, config: TargetConfig, *, name: str, endpoint: Endpoint) -> None:
        self.config = config
        self.name = name
        self.endpoint = endpoint

    def post_json(self, payload: object, headers: dict[str, str]) -> None:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        self.post_body(body, headers)

    def post_body(self, body: bytes, headers: dict[str, str]) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        post(
            self.endpoint,
            body,
            headers,
            timeout_s=self.config.timeout_s,
            allow_private=self.config.allow_private,
        )


@register_notifier
class WebhookNotifier(HttpTarget):
    """A signed JSON POST of :meth:`Notification.to_json`."""

    key: ClassVar[str] = "webhook"
    config_model: ClassVar[type[TargetConfig]] = WebhookTarget

    def __init__(
        self,
        config: TargetConfig,
        *,
        name: str,
        endpoint: Endpoint,
        secret: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, name=name, endpoint=endpoint)
        self._secret = secret
        self._clock = clock

    @classmethod
    def from_config(
        cls, config: TargetConfig, *, name: str, environ: Mapping[str, str]
    ) -> WebhookNotifier:
        assert isinstance(config, WebhookTarget)
        secret = None
        if config.secret_env:
            secret = secret_from_env(environ, config.secret_env, name, "secret_env")
        return cls(config, name=name, endpoint=endpoint_of(config, name, environ), secret=secret)

    def send(self, notification: Notification) -> None:
        body = json.dumps(notification.to_json(), separators=(",", ":"), default=str).encode()
        headers = {"X-Conveyor-Event": notification.kind, "X-Conveyor-Event-Id": notification.id}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body, int(self._clock()))
        self.post_body(body, headers)

    def __repr__(self) -> str:  # never the secret
        return f"<WebhookNotifier {self.endpoint.where}>"
