"""The ``notify:`` block of ``conveyor.yaml``: a list of targets, each under its kind's key.

::

    notify:
      - webhook:
          url: https://ops.example.com/conveyor
          secret_env: CONVEYOR_WEBHOOK_SECRET   # the variable's NAME; its value signs
          events: [rollout.rolled_back, rollout.promoted]
      - slack:
          url_env: SLACK_WEBHOOK_URL            # Slack's URL is itself a secret
          events: [rollout.*]

:class:`NotifyConfig` is the block's model (``NotifyConfig.model_validate(raw_list)``);
each entry is validated by the configuration model of the kind registered under its key
(:data:`conveyor.notify.base.NOTIFIERS`), so a new kind brings its own model.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    TypeAdapter,
    field_validator,
    model_validator,
)

from conveyor.notify.events import EVENT_KINDS

__all__ = ["HttpTargetConfig", "NotifyConfig", "SlackTarget", "TargetConfig", "WebhookTarget"]


TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class TargetConfig(BaseModel):
    """What every target has: a name, which events, and how hard to try.

    ``name`` is how an alert rule's ``notify:`` list picks the target (optional: a rule
    without ``notify:`` goes to every target that wants alert events).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    events: tuple[str, ...] = ("*",)  # kinds or shell patterns: "rollout.*"
    allow_private: bool = False  # loopback and private ranges (never link-local/metadata)
    timeout_s: float = Field(default=5.0, gt=0, le=60)  # per attempt: connect, each read
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_total_s: float = Field(default=60.0, gt=0, le=3600)  # all attempts together

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not TARGET_NAME.fullmatch(name):
            raise ValueError(
                f"target name {name!r} may hold only letters, digits, '_', '.' and '-' "
                "(at most 64, starting with a letter or digit)"
            )
        return name

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in events:
            if not any(fnmatch.fnmatchcase(kind, pattern) for kind in EVENT_KINDS):
                expected = ", ".join(EVENT_KINDS)
                raise ValueError(f"{pattern!r} matches no event; the events are {expected}")
        return events

    def wants(self, kind: str) -> bool:
        """Whether an event of ``kind`` goes to this target."""
        return any(fnmatch.fnmatchcase(kind, pattern) for pattern in self.events)


class HttpTargetConfig(TargetConfig):
    """A target reached by an HTTP POST: exactly one of ``url`` and ``url_env`` (the name of
    an environment variable holding the URL, for URLs that are themselves secrets, like
    Slack's)."""

    url: str | None = None
    url_env: str | None = None

    @model_validator(mode="after")
    def _one_url(self) -> HttpTargetConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'url' and 'url_env'")
        return self


class WebhookTarget(HttpTargetConfig):
    """``- webhook: {url, secret_env, events}``: a signed JSON POST.

    ``secret_env`` names the environment variable that holds the signing secret; the secret
    itself never appears in ``conveyor.yaml``. Without it the body is sent unsigned.
    """

    secret_env: str | None = None


class SlackTarget(HttpTargetConfig):
    """``- slack: {url | url_env, events}``: a Slack incoming-webhook payload."""


def _entry(raw: Any) -> TargetConfig:
    """``{key: {...}}`` validated by the model registered for ``key``."""
    from conveyor.notify.base import NOTIFIERS  # the registry imports this module

    if not isinstance(raw, dict) or len(raw) != 1:
        kinds = ", ".join(NOTIFIERS)
        raise ValueError(f"each target is one mapping '<kind>: {{...}}' with a kind of {kinds}")
    ((key, body),) = raw.items()
    if key not in NOTIFIERS:
        raise ValueError(f"unknown notifier {key!r}; the kinds are {', '.join(NOTIFIERS)}")
    # Through a dict adapter so that an error's location keeps the key: notify.0.webhook.url
    validated: dict[str, TargetConfig] = _adapter(NOTIFIERS[key].config_model).validate_python(
        {key: {} if body is None else body}
    )
    return validated[key]


@cache
def _adapter(model: type[TargetConfig]) -> TypeAdapter[dict[str, TargetConfig]]:
    return TypeAdapter(dict[str, model])  # type: ignore[valid-type]


class NotifyConfig(RootModel[list[Annotated[TargetConfig, PlainValidator(_entry)]]]):
    """The ``notify:`` block: the targets, in order. Plug it in as ``notify: NotifyConfig``."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _unique_names(self) -> NotifyConfig:
        names = [t.name for t in self.root if t.name is not None]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"target names must be unique; {', '.join(twice)} is used twice")
        return self

    @property
    def targets(self) -> list[TargetConfig]:
        return self.root

    def names(self) -> list[str]:
        """The names given to targets, in order."""
        return [t.name for t in self.root if t.name is not None]
