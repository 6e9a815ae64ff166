"""Prometheus metrics for the gateway: requests, latency, in-flight, load time, predictions.

One :class:`GatewayMetrics` per app, with its own registry (never prometheus_client's global
one, so several apps in one process don't clash). It is two things at once: the recorder the
pure ASGI :class:`MetricsMiddleware` reports every request to, and a prediction observer
(``observe``) that sees every answered prediction::

    metrics = GatewayMetrics()
    app = create_app(pool, metrics=metrics)  # adds the middleware and GET /metrics

Labels stay bounded: ``route`` is the route template (``/v2/models/{model}/infer``), never the
raw path; ``model``/``version`` are those that answered (the ``X-Conveyor-Model[-Version]``
response headers), else the path's if the pool serves them, else ``""``; predicted labels are
capped per model version (``label_cap``, then ``"other"``).

With several worker processes (``conveyor serve --workers N``) each worker writes its values to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` merges them with
``prometheus_client.multiprocess.MultiProcessCollector`` on every scrape; pass that directory as
``multiprocess_dir``. prometheus_client reads the variable when it is first imported, so it
must be set before that (``run_server`` sets it before uvicorn starts the workers).

Each worker also publishes its own CPU time, resident memory and open files, labelled by its
pid (:mod:`conveyor.serving.process_metrics`): the one answering a scrape samples itself then,
the others every few seconds from a daemon thread (:meth:`GatewayMetrics.start`), and the
series of workers that died are dropped at the next scrape.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from conveyor.errors import ConfigError
from conveyor.serving.process_metrics import WorkerGauges, forget_dead_workers

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from conveyor.monitoring.observation import Prediction
    from conveyor.serving.batching import BatchRecord
    from conveyor.serving.pool import ModelPool

MULTIPROC_VAR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
VALUE_BUCKETS = (-1e3, -100, -10, -1, 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 2.5, 5, 10, 100, 1e3, 1e6)
LABEL_CAP = 50
OTHER = "other"
UNMATCHED = "unmatched"
_MODEL = b"x-conveyor-model"
_VERSION = b"x-conveyor-model-version"


class GatewayMetrics:
    """The gateway's metrics in a registry of their own; also a prediction observer.

    Numeric (floating point) predictions feed the ``conveyor_predicted_value`` histogram; any
    other output (integer or string class labels, booleans) counts per label in
    ``conveyor_predicted_label_total``, at most ``label_cap`` labels per model version.
    Non-finite values are skipped. prometheus_client exports no ``_sum`` for a histogram with
    negative buckets (the default ``value_buckets`` have some); give non-negative ones to get it.

    >>> metrics = GatewayMetrics()
    >>> metrics.render().startswith(b"# HELP")
    True
    """

    def __init__(
        self,
        *,
        multiprocess_dir: str | os.PathLike[str] | None = None,
        label_cap: int = LABEL_CAP,
        value_buckets: Sequence[float] = VALUE_BUCKETS,
    ) -> None:
        if multiprocess_dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            raise ConfigError(
                f"metrics in multiprocess mode need {MULTIPROC_VAR} set before "
                "prometheus_client is first imported; it was not",
                hint=f"export {MULTIPROC_VAR}={os.fspath(multiprocess_dir)} before starting",
            )
        self.multiprocess_dir = multiprocess_dir
        self.label_cap = label_cap
        self.registry = CollectorRegistry()
        self._labels_seen: dict[tuple[str, str], set[str]] = {}
        self._loads_seen: set[tuple[str, int]] = set()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._collectors: list[Collector] = []
        self._define(tuple(value_buckets))
        self.workers = WorkerGauges(self.registry)

    def add_collector(self, collector: Collector) -> None:
        """Expose ``collector``'s metrics too (read at scrape time in this process, also in
        multiprocess mode): the monitor loop's gauges, read from the store."""
        self._collectors.append(collector)
        self.registry.register(collector)

    def _define(self, value_buckets: tuple[float, ...]) -> None:
        registry = self.registry
        self.requests = Counter(
            "conveyor_requests",
            "HTTP requests answered, by model, version, route template and status.",
            ["model", "version", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "conveyor_request_duration_seconds",
            "Time from receiving a request to the end of its response.",
            ["model", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "conveyor_requests_in_flight",
            "Requests being answered now.",
            ["route"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.load_seconds = Gauge(
            "conveyor_model_load_seconds",
            "Seconds it took to load a model version.",
            ["model", "version"],
            multiprocess_mode="max",
            registry=registry,
        )
        self.load_memory = Gauge(
            "conveyor_model_load_memory_bytes",
            "Growth of the worker's resident memory (RSS) while it loaded a model version.",
            ["model", "version"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.predictions = Counter(
            "conveyor_predictions",
            "Rows predicted (one per output row).",
            ["model", "version"],
            registry=registry,
        )
        self.predicted_value = Histogram(
            "conveyor_predicted_value",
            "Distribution of numeric (floating point) predicted values.",
            ["model", "version"],
            buckets=value_buckets,
            registry=registry,
        )
        self.predicted_label = Counter(
            "conveyor_predicted_label",
            "Predicted labels (non-float outputs), capped per version; the rest are 'other'.",
            ["model", "version", "label"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "conveyor_batch_size",
            "Rows per model call (concurrent requests merged by the batcher).",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.shadow_copies = Counter(
            "conveyor_shadow_copies",
            "Copies of answered requests for shadow versions: sent, dropped (queue full), failed.",
            ["model", "version", "outcome"],
            registry=registry,
        )
        self.shadow_rows = Counter(
            "conveyor_shadow_rows",
            "Rows a shadow version predicted, by agreement with the version that answered.",
            ["model", "version", "agreement"],
            registry=registry,
        )
        self.log_rows = Counter(
            "conveyor_prediction_log_rows",
            "Prediction log rows: written, dropped (too many waiting) or failed (not written).",
            ["model", "outcome"],
            registry=registry,
        )
        self.batch_requests = Histogram(
            "conveyor_batch_requests",
            "Requests merged into one model call.",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_queue = Histogram(
            "conveyor_batch_queue_seconds",
            "How long the oldest request of a model call waited for the call to start.",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, prediction: Prediction) -> None:
        """Count an answered prediction: rows, batch size, predicted values or labels."""
        model, version = prediction.model, str(prediction.version)
        outputs = np.asarray(prediction.outputs).reshape(-1)
        self._child(self.predictions, model, version).inc(len(outputs))
        if outputs.dtype.kind == "f":
            histogram = self._child(self.predicted_value, model, version)
            for value in outputs[np.isfinite(outputs)].tolist():
                histogram.observe(value)
            return
        if len(outputs) == 1:  # the usual one-row request: np.unique costs 40 us
            found, counts = [str(outputs[0])], [1]
        else:
            unique, times = np.unique(outputs.astype(str), return_counts=True)
            found, counts = unique.tolist(), times.tolist()
        for label, count in zip(found, counts, strict=True):
            capped = self._capped(model, version, label)
            self._child(self.predicted_label, model, version, capped).inc(count)

    def shadow(self, model: str, version: int, outcome: str, copies: int = 1) -> None:
        """Count shadow copies of ``model`` for shadow ``version``: sent, dropped or failed."""
        self.shadow_copies.labels(model, str(version), outcome).inc(copies)

    def shadow_compared(self, model: str, version: int, rows: int, agreed: int) -> None:
        """Count rows a shadow version predicted and compared with the primary's answer."""
        self.shadow_rows.labels(model, str(version), "agreed").inc(agreed)
        self.shadow_rows.labels(model, str(version), "disagreed").inc(rows - agreed)

    def logged(self, model: str, outcome: str, rows: int) -> None:
        """Count prediction log rows of ``model``: written, dropped or failed (not written)."""
        self.log_rows.labels(model, outcome).inc(rows)

    def observe_batch(self, batch: BatchRecord) -> None:
        """Record one model call: its rows, the requests merged and the oldest one's wait."""
        version = str(batch.version)
        self._child(self.batch_size, batch.model, version).observe(batch.rows)
        self._child(self.batch_requests, batch.model, version).observe(batch.requests)
        self._child(self.batch_queue, batch.model, version).observe(batch.queued_s)

    def request(self, model: str, version: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        self._child(self.requests, model, version, route, str(status)).inc()
        self._child(self.duration, model, route).observe(seconds)

    def record_loads(self, pool: ModelPool) -> None:
        """Set the load time and memory of every version in ``pool`` not recorded yet."""
        for served in pool.all():
            key = (served.name, served.version)
            if key not in self._loads_seen:
                labels = (served.name, str(served.version))
                self.load_seconds.labels(*labels).set(served.load_seconds)
                self.load_memory.labels(*labels).set(served.load_memory_bytes)
                self._loads_seen.add(key)

    def start(self) -> None:
        """At a worker's startup: with several workers, sample this one's CPU and memory in
        the background, since another worker may answer the scrapes."""
        if self.multiprocess_dir is not None:
            self.workers.start()

    def stop(self) -> None:
        """At a worker's shutdown: end the background sampling."""
        self.workers.stop()

    def render(self) -> bytes:
        """The text exposition: this registry's, or every worker's merged in multiprocess mode,
        with this worker's CPU and memory sampled now."""
        self.workers.sample()
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        forget_dead_workers(self.multiprocess_dir)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=os.fspath(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        for collector in self._collectors:
            merged.register(collector)
        return generate_latest(merged)

    def route(self, pool: ModelPool) -> Route:
        """``GET /metrics``: records load times of versions loaded since, then renders."""
        self.record_loads(pool)

        async def scrape(request: Request) -> Response:
            self.record_loads(pool)
            body = await anyio.to_thread.run_sync(self.render)
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", scrape, methods=["GET"])

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: prometheus_client's lookup costs ~3 us and a
        request makes several (label sets stay bounded, see the module docstring)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _capped(self, model: str, version: str, label: str) -> str:
        """``label`` (cut to 64 characters) until the version has ``label_cap`` of them."""
        label = label[:64]
        seen = self._labels_seen.setdefault((model, version), set())
        if label not in seen:
            if len(seen) >= self.label_cap:
                return OTHER
            seen.add(label)
        return label


class MetricsMiddleware:
    """Pure ASGI middleware: counts, times and tracks in flight every HTTP request.

    ``routes`` are the app's routes, matched up front to name the route template (the app's
    router matches them again; a dozen regular expressions cost microseconds).
    """

    def __init__(
        self, app: ASGIApp, *, metrics: GatewayMetrics, pool: ModelPool, routes: Sequence[BaseRoute]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.pool = pool
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, params = _template(self.routes, scope)
        status, headers = 500, ()

        async def send_watched(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", ())
            await send(message)

        in_flight = self.metrics._child(self.metrics.in_flight, route)
        in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_watched)
        finally:
            took = time.perf_counter() - started
            in_flight.dec()
            model, version = self._answered_by(params, headers)
            self.metrics.request(model, version, route, status, took)

    def _answered_by(
        self, params: dict[str, str], headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[str, str]:
        """The response headers' model and version, else the path's if served, else ``""``."""
        found = {key: value for key, value in headers if key in (_MODEL, _VERSION)}
        if _VERSION in found:
            return found.get(_MODEL, b"").decode("latin-1"), found[_VERSION].decode("latin-1")
        model = params.get("model", "")
        if model not in self.pool.names():
            return "", ""
        version = params.get("version", "")
        loaded = (
            version.isascii() and version.isdigit() and int(version) in self.pool.versions(model)
        )
        return model, version if loaded else ""


def _template(routes: Sequence[BaseRoute], scope: Scope) -> tuple[str, dict[str, str]]:
    """The path template of the route ``scope`` goes to (a full match first), and its params."""
    partial: tuple[str, dict[str, str]] | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL or (match is Match.PARTIAL and partial is None):
            found = (getattr(route, "path", UNMATCHED), child.get("path_params", {}))
            if match is Match.FULL:
                return found
            partial = found
    return partial or (UNMATCHED, {})
