"""``- slack: {...}``: a Slack incoming-webhook payload (``text`` plus ``blocks``).

``text`` is the fallback Slack shows in notifications; ``blocks`` lay out the summary,
the model and version, and the details as fields. Anything accepting Slack's format
(Mattermost, Rocket.Chat, Teams via a connector) reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from conveyor.notify.base import register_notifier
from conveyor.notify.config import SlackTarget, TargetConfig
from conveyor.notify.events import Notification
from conveyor.notify.webhook import HttpTarget, endpoint_of

__all__ = ["SlackNotifier", "slack_payload"]

ICONS = {
    "rollout.started": ":arrow_forward:",
    "rollout.step_passed": ":white_check_mark:",
    "rollout.paused": ":double_vertical_bar:",
    "rollout.rolled_back": ":rewind:",
    "rollout.promoted": ":rocket:",
    "alert.firing": ":rotating_light:",
    "alert.resolved": ":large_green_circle:",
}
MAX_FIELDS = 10  # Slack refuses a section with more


def slack_payload(notification: Notification) -> dict[str, Any]:
    """The JSON Slack expects: ``{"text": ..., "blocks": [...]}``."""
    icon = ICONS.get(notification.kind, "")
    text = f"{icon} {notification.summary}".strip()
    context = f"`{notification.kind}` · {notification.model} v{notification.version} · " + (
        notification.time.strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{key}*\n{value}"}
        for key, value in list(notification.details.items())[:MAX_FIELDS]
    ]
    if fields:
        blocks.insert(1, {"type": "section", "fields": fields})
    return {"text": text, "blocks": blocks}


@register_notifier
class SlackNotifier(HttpTarget):
    """A POST of :func:`slack_payload` (no signature: Slack's URL is the secret)."""

    key: ClassVar[str] = "slack"
    config_model: ClassVar[type[TargetConfig]] = SlackTarget

    @classmethod
    def from_config(
        cls, config: TargetConfig, *, name: str, environ: Mapping[str, str]
    ) -> SlackNotifier:
        assert isinstance(config, SlackTarget)
        return cls(config, name=name, endpoint=endpoint_of(config, name, environ))

    def send(self, notification: Notification) -> None:
        self.post_json(slack_payload(notification), {})
