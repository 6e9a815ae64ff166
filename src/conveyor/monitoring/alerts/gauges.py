"""The monitor loop's latest evaluations as Prometheus gauges, for the gateway's ``/metrics``.

The loop stores, per model version, the drift of each feature it evaluated and the
realized metrics (``store.alerts``); :class:`MonitorGauges` reads them back, at most once
every ``refresh_s`` (15 s) however often ``/metrics`` is scraped, and exposes::

    conveyor_drift_score{model,version,feature}            effect size (Wasserstein in sd,
                                                           Jensen-Shannon, Cohen's h)
    conveyor_drift_p_value{model,version,feature}          after the multiple-testing correction
    conveyor_drift_detected{model,version,feature}         1 when the feature drifts, else 0
    conveyor_feature_missing_share{model,version,feature}  share missing in the current window
    conveyor_model_performance{model,version,metric}       realized, from the labels
    conveyor_alerts_open{model,rule,severity}              firing alerts

Cardinality stays bounded: the loop keeps at most ``monitor.max_features`` (50) features
per version, the most drifted first, and only versions it evaluated within
:data:`~conveyor.monitoring.alerts.loop.GAUGE_TTL` (an hour) appear. A store that cannot
be read leaves the last values in place (logged once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from conveyor.errors import ConveyorError
from conveyor.ids import utcnow
from conveyor.monitoring.alerts.loop import GAUGE_TTL

if TYPE_CHECKING:
    from conveyor.store import Store
    from conveyor.store.entities import FeatureGauge, MetricGauge

__all__ = ["REFRESH_S", "MonitorGauges"]

log = logging.getLogger("conveyor.monitor")

REFRESH_S = 15.0
FEATURE = ["model", "version", "feature"]


@dataclass(frozen=True)
class _Snapshot:
    features: list[FeatureGauge] = field(default_factory=list)
    metrics: list[MetricGauge] = field(default_factory=list)
    open: Counter[tuple[str, str, str]] = field(default_factory=Counter)


class MonitorGauges(Collector):
    """A Prometheus collector over ``store``'s latest monitor evaluations.

    >>> registry.register(MonitorGauges(ctx.store))  # doctest: +SKIP
    """

    def __init__(
        self,
        store: Store,
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._snapshot = _Snapshot()
        self._read_at: float | None = None
        self._failing = False
        self.reads = 0  # how many times the store was read (tests, and a curious human)

    def describe(self) -> Iterable[Metric]:
        return []  # nothing at registration: the store is read on scrapes only

    def collect(self) -> Iterable[Metric]:
        snapshot = self._current()
        score = GaugeMetricFamily(
            "conveyor_drift_score",
            "Drift effect size per feature (latest evaluation).",
            labels=FEATURE,
        )
        p_value = GaugeMetricFamily(
            "conveyor_drift_p_value",
            "Drift p-value per feature, after the multiple-testing correction.",
            labels=FEATURE,
        )
        detected = GaugeMetricFamily(
            "conveyor_drift_detected", "1 when the feature drifts, else 0.", labels=FEATURE
        )
        missing = GaugeMetricFamily(
            "conveyor_feature_missing_share",
            "Share of missing values of the feature in the current window.",
            labels=FEATURE,
        )
        for g in snapshot.features:
            labels = [g.model, str(g.version), g.feature]
            if g.score is not None:
                score.add_metric(labels, g.score)
            if g.p_value is not None:
                p_value.add_metric(labels, g.p_value)
            detected.add_metric(labels, 1.0 if g.drifted else 0.0)
            if g.missing_share is not None:
                missing.add_metric(labels, g.missing_share)
        performance = GaugeMetricFamily(
            "conveyor_model_performance",
            "Realized model metric from delayed labels (latest evaluation).",
            labels=["model", "version", "metric"],
        )
        for m in snapshot.metrics:
            performance.add_metric([m.model, str(m.version), m.metric], m.value)
        alerts = GaugeMetricFamily(
            "conveyor_alerts_open", "Firing alerts.", labels=["model", "rule", "severity"]
        )
        for (model, rule, severity), count in sorted(snapshot.open.items()):
            alerts.add_metric([model, rule, severity], count)
        return [score, p_value, detected, missing, performance, alerts]

    def _current(self) -> _Snapshot:
        """The snapshot, read again from the store when older than ``refresh_s``."""
        with self._lock:
            moment = self._clock()
            if self._read_at is not None and moment - self._read_at < self._refresh_s:
                return self._snapshot
            self._read_at = moment
            try:
                self._snapshot = self._read()
            except ConveyorError as exc:
                if not self._failing:
                    log.warning("/metrics: monitor gauges keep their last values: %s", exc.message)
                self._failing = True
            else:
                if self._failing:
                    log.warning("/metrics: monitor gauges read the store again")
                self._failing = False
            return self._snapshot

    def _read(self) -> _Snapshot:
        self.reads += 1
        features, metrics = self._store.alerts.gauges(self._now() - GAUGE_TTL)
        firing = Counter(
            (a.model, a.rule, a.severity) for a in self._store.alerts.open() if a.state == "firing"
        )
        return _Snapshot(features, metrics, firing)
