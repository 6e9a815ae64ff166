"""Notifications of rollout and alert events: webhooks, Slack, e-mail, PagerDuty, off the hot path.

The pieces, one job each:

- ``events.py``: :class:`Notification`, what is sent;
- ``config.py``: :class:`NotifyConfig`, the ``notify:`` block of ``conveyor.yaml``;
- ``base.py``: the :class:`Notifier` interface, the registry :data:`NOTIFIERS` and
  :func:`build_notifiers`;
- ``webhook.py``, ``slack.py``, ``email.py``, ``pagerduty.py``: the kinds (``- webhook:``,
  ``- slack:``, ``- email:`` over SMTP, ``- pagerduty:`` Events API v2);
- ``signing.py``: the HMAC-SHA256 signature and :func:`verify_signature` for receivers;
- ``targets.py``: the SSRF rules every target URL and resolved address must pass;
- ``transport.py``: one POST to a checked address, no redirects;
- ``retry.py``: backoff with jitter, Retry-After, bounded attempts and time;
- ``dispatch.py``: :class:`Dispatcher`, a bounded queue and worker thread per target.

Use::

    config = NotifyConfig.model_validate(raw["notify"])
    dispatcher = Dispatcher(build_notifiers(config, settings.environment()))
    dispatcher.notify(Notification("rollout.started", "churn", "3", "canary of churn v3 at 5%"))
    dispatcher.notify(alert_notification, targets=["oncall"])  # only the targets named so
    dispatcher.close(timeout_s=10)

To add a kind: a module here with its configuration model (a
:class:`TargetConfig` subclass) and its class decorated with :func:`register_notifier`,
imported below. ``NotifyConfig`` validates its entries and :class:`Dispatcher` retries
and queues for it without a change.
"""

from __future__ import annotations

from conveyor.notify import (  # noqa: F401  (registers the kinds)
    email,
    pagerduty,
    slack,
    webhook,
)
from conveyor.notify.base import (
    NOTIFIERS,
    DeliveryFailed,
    Notifier,
    build_notifiers,
    register_notifier,
)
from conveyor.notify.config import (
    HttpTargetConfig,
    NotifyConfig,
    SlackTarget,
    TargetConfig,
    WebhookTarget,
)
from conveyor.notify.dispatch import Dispatcher, TargetStats
from conveyor.notify.email import EmailNotifier, EmailTarget, email_message
from conveyor.notify.events import EVENT_KINDS, EventKind, Notification
from conveyor.notify.pagerduty import PagerDutyNotifier, PagerDutyTarget, pagerduty_payload
from conveyor.notify.signing import SIGNATURE_HEADER, sign, verify_signature
from conveyor.notify.slack import SlackNotifier, slack_payload
from conveyor.notify.webhook import WebhookNotifier

__all__ = [
    "EVENT_KINDS",
    "NOTIFIERS",
    "SIGNATURE_HEADER",
    "DeliveryFailed",
    "Dispatcher",
    "EmailNotifier",
    "EmailTarget",
    "EventKind",
    "HttpTargetConfig",
    "Notification",
    "Notifier",
    "NotifyConfig",
    "PagerDutyNotifier",
    "PagerDutyTarget",
    "SlackNotifier",
    "SlackTarget",
    "TargetConfig",
    "TargetStats",
    "WebhookNotifier",
    "WebhookTarget",
    "build_notifiers",
    "email_message",
    "pagerduty_payload",
    "register_notifier",
    "sign",
    "slack_payload",
    "verify_signature",
]
