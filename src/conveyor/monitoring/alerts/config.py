"""The ``monitor:`` block of ``conveyor.yaml``: how often the loop runs, and the alert rules.

::

    monitor:
      interval: 1m                  # how often every rule is evaluated
      repeat_interval: 4h           # a still-firing alert is notified again at most this often
      max_notifications_per_hour: 20
      max_features: 50              # drift gauges on /metrics per model version
      alerts:
        - name: churn-drift
          model: churn              # its routed versions; churn@champion, churn/3 pin one
          when: drift               # drift | performance | error_rate | latency | no_traffic
          window: 1h
          severity: warning         # info | warning | critical
          for: 5m                   # the condition holds this long before it fires
          notify: [ops-webhook]     # names of notify: targets (default: every one)

Each kind has its own keys (``KIND_KEYS``); a key of another kind is an error that names
the rule and the kinds it belongs to. Durations are ``30s``, ``5m``, ``1h``, ``1d`` (or
seconds); latencies may be ``250ms``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["KIND_KEYS", "AlertRule", "Kind", "MonitorConfig", "Severity", "parse_model"]

Kind = Literal["drift", "performance", "error_rate", "latency", "no_traffic"]
Severity = Literal["info", "warning", "critical"]
Duration = str | float

RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MODEL = re.compile(
    r"(?:models:/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,254})"
    r"(?:@(?P<alias>[A-Za-z][A-Za-z0-9_-]{0,63})|/(?P<version>[1-9][0-9]{0,9}))?"
)
DEFAULT_WINDOW = {
    "drift": "1h",
    "performance": "1d",
    "error_rate": "5m",
    "latency": "5m",
    "no_traffic": "15m",
}
COMMON_KEYS = (
    "name",
    "model",
    "when",
    "window",
    "severity",
    "for",
    "notify",
    "repeat_interval",
    "interval",
)
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "drift": ("features", "min_features", "correction", "alpha"),
    "performance": ("metric", "below", "above", "drop", "min_labels", "reference_metric"),
    "error_rate": ("above", "min_requests", "client_errors"),
    "latency": ("p50_above", "p95_above", "p99_above", "min_requests"),
    "no_traffic": (),
}
HIGHER_IS_BETTER = {"accuracy": True, "roc_auc": True, "mae": False, "rmse": False}
QUANTILES = {"p50_above": 0.5, "p95_above": 0.95, "p99_above": 0.99}


def parse_model(spec: str) -> tuple[str, str | None, int | None]:
    """``churn``, ``churn@champion``, ``churn/3`` (``models:/`` optional) as (name, alias,
    version); ValueError for anything else."""
    match = MODEL.fullmatch(spec.strip())
    if match is None:
        raise ValueError(
            f"{spec!r} is not a model: write NAME (its routed versions), NAME@ALIAS or NAME/VERSION"
        )
    version = match.group("version")
    return match.group("name"), match.group("alias"), int(version) if version else None


def seconds(value: Duration) -> float:
    """A duration in seconds (``conveyor.config.parse_duration``)."""
    from conveyor.config import parse_duration  # config imports this module

    return parse_duration(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertRule(_Strict):
    """One alert rule: a condition on one model's versions, checked every pass."""

    name: str = Field(description="Unique among the rules; part of each alert's fingerprint.")
    model: str = Field(description="NAME (its routed versions), NAME@ALIAS or NAME/VERSION.")
    when: Kind = Field(description="drift | performance | error_rate | latency | no_traffic.")
    window: Duration | None = Field(default=None, description="How far back each check reads.")
    severity: Severity = Field(default="warning", description="info | warning | critical.")
    for_: Duration = Field(default=0, alias="for", description="Hold this long before firing.")
    notify: tuple[str, ...] | None = Field(
        default=None, description="Names of notify: targets; default every target."
    )
    repeat_interval: Duration | None = Field(
        default=None, description="Notify a still-firing alert again after this long."
    )
    interval: Duration | None = Field(
        default=None, description="Evaluate at most this often (default: monitor.interval)."
    )
    # drift
    features: tuple[str, ...] | None = Field(default=None, description="Only these columns.")
    min_features: int = Field(default=1, ge=1, description="Fire when this many drift.")
    correction: Literal["bh", "bonferroni", "none"] = Field(
        default="bh", description="Multiple-testing control across the features."
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Level of the corrected tests.")
    # performance
    metric: Literal["accuracy", "roc_auc", "mae", "rmse"] = Field(
        default="accuracy", description="The realized metric from the labels."
    )
    below: float | None = Field(default=None, description="Fire when the metric is below.")
    above: float | None = Field(default=None, description="Fire when the value is above.")
    drop: float | None = Field(
        default=None, gt=0, description="Fire when worse than the version's own run metric by this."
    )
    min_labels: int = Field(default=30, ge=1, description="Fewer labelled rows: not judged.")
    reference_metric: str | None = Field(
        default=None, description="The run metric 'drop' compares with (default: metric)."
    )
    # error_rate, latency
    min_requests: int = Field(default=20, ge=1, description="Fewer requests: not judged.")
    client_errors: bool = Field(default=False, description="Count 4xx answers as errors too.")
    p50_above: Duration | None = Field(default=None, description="Median latency over this.")
    p95_above: Duration | None = Field(default=None, description="p95 latency over this.")
    p99_above: Duration | None = Field(default=None, description="p99 latency over this.")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not RULE_NAME.fullmatch(name):
            raise ValueError(
                f"rule name {name!r} may hold only letters, digits, '_', '.' and '-' "
                "(at most 64, starting with a letter or digit)"
            )
        return name

    @field_validator("model")
    @classmethod
    def _model(cls, model: str) -> str:
        parse_model(model)
        return model

    @field_validator(
        "window", "for_", "repeat_interval", "interval", "p50_above", "p95_above", "p99_above"
    )
    @classmethod
    def _duration(cls, value: Duration | None) -> Duration | None:
        if value is not None and value != 0:
            seconds(value)
        return value

    @model_validator(mode="after")
    def _kind_keys(self) -> AlertRule:
        given = {_key(field) for field in self.model_fields_set}
        foreign = sorted(given - set(COMMON_KEYS) - set(KIND_KEYS[self.when]))
        if foreign:
            owners = {k: [kind for kind, keys in KIND_KEYS.items() if k in keys] for k in foreign}
            said = "; ".join(f"{k!r} is for when: {' or '.join(v)}" for k, v in owners.items())
            own = ", ".join(KIND_KEYS[self.when]) or "none"
            raise ValueError(f"{said} (the keys of when: {self.when} are: {own})")
        getattr(self, f"_check_{self.when}")()
        return self

    def _check_drift(self) -> None:
        if self.features is not None and self.min_features > len(self.features):
            raise ValueError(
                f"min_features is {self.min_features} but only {len(self.features)} features "
                "are watched"
            )

    def _check_performance(self) -> None:
        given = [k for k in ("below", "above", "drop") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'below', 'above' and 'drop' for a performance rule"
            )
        higher = HIGHER_IS_BETTER[self.metric]
        if (higher and self.above is not None) or (not higher and self.below is not None):
            wanted = "below" if higher else "above"
            raise ValueError(
                f"{self.metric} is {'higher' if higher else 'lower'} when better: "
                f"use '{wanted}' (or 'drop')"
            )

    def _check_error_rate(self) -> None:
        if self.above is None or not 0 <= self.above < 1:
            raise ValueError("an error_rate rule needs 'above': a share of requests in [0, 1)")

    def _check_latency(self) -> None:
        given = [k for k in QUANTILES if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of p50_above, p95_above and p99_above")

    def _check_no_traffic(self) -> None:
        pass

    @property
    def window_s(self) -> float:
        """How far back each evaluation reads (the kind's default when not given)."""
        return seconds(self.window if self.window is not None else DEFAULT_WINDOW[self.when])

    @property
    def for_s(self) -> float:
        """How long the condition must hold before the alert fires (0: at once)."""
        return 0.0 if self.for_ == 0 else seconds(self.for_)

    @property
    def interval_s(self) -> float:
        """This rule's own pace (0: every pass of the loop)."""
        return 0.0 if self.interval is None else seconds(self.interval)

    @property
    def latency(self) -> tuple[float, float]:
        """A latency rule's quantile and its limit in seconds."""
        key = next(k for k in QUANTILES if getattr(self, k) is not None)
        return QUANTILES[key], seconds(getattr(self, key))

    def threshold(self) -> dict[str, Any]:
        """The keys that decide this rule, as given (for evidence and notifications)."""
        keys = [k for k in KIND_KEYS[self.when] if _field(k) in self.model_fields_set]
        return {k: getattr(self, _field(k)) for k in keys}


def _key(field: str) -> str:
    return "for" if field == "for_" else field


def _field(key: str) -> str:
    return "for_" if key == "for" else key


class MonitorConfig(_Strict):
    """The ``monitor:`` block: the loop's pace, notification limits and the rules."""

    interval: Duration = Field(default="1m", description="How often every rule is evaluated.")
    repeat_interval: Duration = Field(
        default="4h", description="Notify a still-firing alert again at most this often."
    )
    max_notifications_per_hour: int = Field(
        default=20, ge=1, description="Firing notifications queued per hour, all alerts together."
    )
    max_features: int = Field(
        default=50, ge=1, le=1000, description="Drift gauges per model version on /metrics."
    )
    alerts: tuple[AlertRule, ...] = Field(default=(), description="The alert rules.")

    @field_validator("interval", "repeat_interval")
    @classmethod
    def _duration(cls, value: Duration) -> Duration:
        seconds(value)
        return value

    @field_validator("alerts")
    @classmethod
    def _unique(cls, rules: tuple[AlertRule, ...]) -> tuple[AlertRule, ...]:
        names = [r.name for r in rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must be unique; {', '.join(twice)} is used twice")
        return rules

    @property
    def interval_s(self) -> float:
        return seconds(self.interval)

    def repeat_s(self, rule: AlertRule) -> float:
        """How long a firing alert of ``rule`` waits before it is notified again."""
        return seconds(rule.repeat_interval or self.repeat_interval)
