"""One alert rule on one model version, now: does its condition hold, on what evidence?

Each kind reads what the gateway recorded, the same way the CLI does:

- ``drift``: :func:`~conveyor.monitoring.drift_service.live_drift` (the gateway's live
  profiles of the window, else its logged inputs, against the version's reference); holds
  when at least ``min_features``
  features drift (after the multiple-testing correction and above their calibrated bars);
- ``performance``: :func:`~conveyor.monitoring.performance.realized` (the prediction log
  joined to the labels of ``POST /feedback``); holds when the metric is below ``below``,
  above ``above``, or worse than the version's own run metric by more than ``drop``;
- ``error_rate``, ``latency``, ``no_traffic``: the outcome windows of the version
  (:mod:`~conveyor.monitoring.outcomes`), merged over the window.

Too little data to judge (no logged rows, fewer than ``min_labels`` labels or
``min_requests`` requests) is ``holds=None``: neither firing nor resolving. The
:class:`Observation` also carries what the gateway's ``/metrics`` shows for the version
(the drift per feature, the realized metrics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.errors import NotFoundError
from conveyor.monitoring.alerts.config import HIGHER_IS_BETTER, AlertRule, parse_model
from conveyor.store.entities import FeatureGauge, MetricGauge

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.monitoring.drift.report import FeatureDrift

__all__ = ["EVALUATORS", "Observation", "evaluate", "watched_versions"]

EVIDENCE_FEATURES = 10  # features listed in an alert's evidence, most drifted first


@dataclass(frozen=True)
class Observation:
    """A rule's condition on one version: ``holds`` (None: too little data to say), the
    ``value`` it is judged on, a one-line ``summary``, the ``evidence``, and the gauges
    the evaluation produced."""

    holds: bool | None
    value: float | None
    summary: str
    evidence: dict[str, Any]
    features: list[FeatureGauge] | None = None  # None: this kind measures no features
    metrics: list[MetricGauge] = field(default_factory=list)


def watched_versions(ctx: Context, spec: str) -> list[int]:
    """The versions a rule's ``model:`` names now: NAME/3 that one; NAME@ALIAS the alias's
    version; NAME every version its routing table sends traffic to (routes with weight and
    shadows), or without a table its champion, else its latest version."""
    from conveyor.delivery.deployments import get_table

    name, alias, version = parse_model(spec)
    if version is not None:
        return [version]
    model = ctx.store.registry.get_model(name)
    if alias is not None:
        if alias not in model.aliases:
            raise NotFoundError(
                f"model {name!r} has no alias {alias!r} (its aliases: "
                f"{', '.join(sorted(model.aliases)) or 'none'})",
                hint=f"conveyor models alias {name} VERSION --set {alias}",
            )
        return [model.aliases[alias]]
    table = get_table(ctx.store, name)
    if table is not None:
        routed = {r.version for r in table.routes if r.weight > 0}
        return sorted(routed | {s.version for s in table.shadows})
    found = model.aliases.get("champion", model.latest_version)
    return [] if found is None else [found]


def evaluate(
    ctx: Context,
    rule: AlertRule,
    model: str,
    version: int,
    now: datetime,
    *,
    max_features: int = 50,
    scorer: Any = None,
) -> Observation:
    """``rule``'s condition on ``model`` ``version`` over the window ending ``now``."""
    judge = EVALUATORS[rule.when]
    return judge(ctx, rule, model, version, now, max_features, scorer)


Evaluator = Callable[["Context", AlertRule, str, int, datetime, int, Any], Observation]


def _drift(
    ctx: Context,
    rule: AlertRule,
    model: str,
    version: int,
    now: datetime,
    max_features: int,
    _scorer: Any,
) -> Observation:
    from conveyor.monitoring.drift_service import Settings, live_drift

    settings = Settings(rule.features, rule.correction, rule.alpha)
    window = timedelta(seconds=rule.window_s)
    live = live_drift(ctx, model, window=window, version=version, settings=settings, now=now)
    report = live.report
    if report is None or report.status == "insufficient_data":
        return Observation(None, None, live.message, {"rows": live.rows})
    ranked = sorted(report.features, key=_most_drifted)
    drifted = [f.name for f in ranked if f.drifted]
    summary = (
        f"{model} v{version}: {len(drifted)} of {len(ranked)} features drifted"
        + (f" ({', '.join(drifted[:5])}{', ...' if len(drifted) > 5 else ''})" if drifted else "")
        + f" over the last {_span(window)} ({live.rows} rows)"
    )
    evidence = {
        "rows": live.rows,
        "source": live.source,
        "statement": live.message,
        "drifted_features": drifted,
        "features": [_feature_evidence(f) for f in ranked[:EVIDENCE_FEATURES]],
        "min_features": rule.min_features,
        "correction": rule.correction,
        "alpha": rule.alpha,
    }
    gauges = [_feature_gauge(model, version, f, now) for f in ranked[:max_features]]
    holds = len(drifted) >= rule.min_features
    return Observation(holds, float(len(drifted)), summary, evidence, gauges)


def _most_drifted(feature: FeatureDrift) -> tuple[bool, float, float]:
    """Drifted first, then by adjusted p-value, then by the larger effect."""
    main = feature.distribution
    p = main.p_adjusted if main is not None and not math.isnan(main.p_adjusted) else 1.0
    effect = main.effect if main is not None and math.isfinite(main.effect) else 0.0
    return (not feature.drifted, p, -effect)


def _feature_evidence(feature: FeatureDrift) -> dict[str, Any]:
    shown = feature.as_dict()
    keys = ("name", "drifted", "test", "effect", "threshold", "p_adjusted", "missing_share_cur")
    return {key: shown.get(key) for key in keys}


def _feature_gauge(model: str, version: int, feature: FeatureDrift, now: datetime) -> FeatureGauge:
    shown = feature.as_dict()
    return FeatureGauge(
        model,
        version,
        feature.name,
        shown["effect"],
        shown["p_adjusted"],
        feature.drifted,
        shown.get("missing_share_cur"),
        now,
    )


def _performance(
    ctx: Context,
    rule: AlertRule,
    model: str,
    version: int,
    now: datetime,
    _max_features: int,
    scorer: Any,
) -> Observation:
    from conveyor.monitoring.performance import realized

    window = timedelta(seconds=rule.window_s)
    wanted = scorer if rule.metric == "roc_auc" else None
    found = realized(ctx, model, version=version, since=now - window, until=now, scores=wanted)
    if found is None:
        why = f"no predictions of {model} v{version} were logged in the last {_span(window)}"
        return Observation(None, None, why, {})
    gauges = [MetricGauge(model, version, m.name, m.value, m.n, now) for m in found.metrics]
    metric = next((m for m in found.metrics if m.name == rule.metric), None)
    counts = {"predicted": found.predicted, "labelled": found.labelled, "coverage": found.coverage}
    if metric is None or metric.n < rule.min_labels:
        n = 0 if metric is None else metric.n
        why = (
            f"{model} v{version}: {rule.metric} not judged: {n} labelled rows in the last "
            f"{_span(window)} (min_labels {rule.min_labels})"
        )
        return Observation(None, None, why, counts, metrics=gauges)
    higher = HIGHER_IS_BETTER[rule.metric]
    evidence: dict[str, Any] = {
        **counts,
        "metric": rule.metric,
        "value": metric.value,
        "interval": None if metric.low is None else [metric.low, metric.high],
        "n": metric.n,
    }
    if rule.below is not None:
        holds, bar = metric.value < rule.below, f"below {rule.below:g}"
    elif rule.above is not None:
        holds, bar = metric.value > rule.above, f"above {rule.above:g}"
    else:
        assert rule.drop is not None
        reference = _reference(ctx, model, version, rule.reference_metric or rule.metric)
        worse = reference - metric.value if higher else metric.value - reference
        holds, bar = worse > rule.drop, f"{worse:+.3f} worse than its run's {reference:.3f}"
        evidence.update(reference=reference, drop=rule.drop, worse_by=worse)
    summary = (
        f"{model} v{version}: {rule.metric} {metric.value:.3f} ({bar}) on {metric.n} labelled "
        f"rows over the last {_span(window)}"
    )
    return Observation(holds, metric.value, summary, evidence, metrics=gauges)


def _reference(ctx: Context, model: str, version: int, name: str) -> float:
    """The metric ``name`` the version's run logged (what ``drop`` compares with)."""
    run_id = ctx.store.registry.get_version(model, version).run_id
    value = ctx.store.runs.get(run_id).metrics.get(name)
    if value is None or not math.isfinite(value):
        raise NotFoundError(
            f"run {run_id} of {model} v{version} logged no metric {name!r} for 'drop' to "
            "compare with",
            hint="set reference_metric to a metric the run logged, or use below/above",
        )
    return float(value)


def _traffic(
    ctx: Context, model: str, version: int, now: datetime, window_s: float
) -> tuple[int, int, int, Any]:
    """Requests, server errors and client errors of the window, and the merged window."""
    from conveyor.monitoring.outcomes import merge, outcomes

    windows = outcomes(ctx, model, now - timedelta(seconds=window_s), now, version=version)
    if not windows:
        return 0, 0, 0, None
    total = merge(windows)
    return total.requests, total.model_errors + total.timeouts, total.client_errors, total


def _error_rate(
    ctx: Context,
    rule: AlertRule,
    model: str,
    version: int,
    now: datetime,
    _max_features: int,
    _scorer: Any,
) -> Observation:
    requests, server, client, _ = _traffic(ctx, model, version, now, rule.window_s)
    errors = server + (client if rule.client_errors else 0)
    span = _span(timedelta(seconds=rule.window_s))
    evidence = {"requests": requests, "server_errors": server, "client_errors": client}
    if requests < rule.min_requests:
        return Observation(None, None, _too_few(model, version, requests, span, rule), evidence)
    assert rule.above is not None
    rate = errors / requests
    summary = (
        f"{model} v{version}: error rate {rate:.2%} ({errors} of {requests} requests) over the "
        f"last {span}, {'above' if rate > rule.above else 'within'} {rule.above:.2%}"
    )
    return Observation(rate > rule.above, rate, summary, {**evidence, "error_rate": rate})


def _latency(
    ctx: Context,
    rule: AlertRule,
    model: str,
    version: int,
    now: datetime,
    _max_features: int,
    _scorer: Any,
) -> Observation:
    from conveyor.monitoring.outcomes import quantile

    requests, _, _, total = _traffic(ctx, model, version, now, rule.window_s)
    span = _span(timedelta(seconds=rule.window_s))
    if requests < rule.min_requests:
        why = _too_few(model, version, requests, span, rule)
        return Observation(None, None, why, {"requests": requests})
    q, limit = rule.latency
    found = quantile(total, q)
    assert found is not None
    name = f"p{round(q * 100)}"
    summary = (
        f"{model} v{version}: {name} latency {found * 1000:.0f} ms over the last {span} "
        f"({requests} requests), {'above' if found > limit else 'within'} {limit * 1000:g} ms"
    )
    evidence = {"requests": requests, "quantile": q, "latency_s": found, "limit_s": limit}
    return Observation(found > limit, found, summary, evidence)


def _no_traffic(
    ctx: Context,
    rule: AlertRule,
    model: str,
    version: int,
    now: datetime,
    _max_features: int,
    _scorer: Any,
) -> Observation:
    requests, _, _, _ = _traffic(ctx, model, version, now, rule.window_s)
    span = _span(timedelta(seconds=rule.window_s))
    summary = f"{model} v{version}: {requests} requests in the last {span}"
    return Observation(requests == 0, float(requests), summary, {"requests": requests})


def _too_few(model: str, version: int, requests: int, span: str, rule: AlertRule) -> str:
    return (
        f"{model} v{version}: not judged: {requests} requests in the last {span} "
        f"(min_requests {rule.min_requests})"
    )


def _span(window: timedelta) -> str:
    """``1h``, ``15m``, ``90s``: a window as written in conveyor.yaml."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


EVALUATORS: dict[str, Evaluator] = {
    "drift": _drift,
    "performance": _performance,
    "error_rate": _error_rate,
    "latency": _latency,
    "no_traffic": _no_traffic,
}
