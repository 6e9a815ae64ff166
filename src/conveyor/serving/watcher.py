"""Keeping a running gateway in step with the routing tables in the store (hot swap).

``conveyor traffic set`` writes a table with a new revision; the watcher notices it on its
next poll (every ``interval_s``; a table that routes by alias is also resolved again when
the alias moves, with the same revision: see ``deployments.moved_aliases``), loads and warms
every version the table names that the pool lacks, and only then swaps the table into the
router. A version therefore receives traffic only once it is ready, and requests already in
flight on the old version finish there. A version that no table names any more (and that
``--model`` did not ask for) is unloaded ``drain_s`` seconds later, so it stops holding
memory; until then a request forcing it with ``X-Conveyor-Version`` still gets it. A version
that cannot be loaded or warmed leaves the old table in place and the error in the log.
:meth:`DeploymentWatcher.poke` asks for a poll now: the rollout controller inside
``conveyor serve`` pokes its gateway after it changes a model's traffic, so a rollback
reaches the canary's share at once rather than up to ``interval_s`` later. A store
that cannot be reached leaves every table in place: the gateway says so once, and once
more when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.errors import ConveyorError

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.delivery.tables import RoutingTable
    from conveyor.flavors.base import Trust
    from conveyor.monitoring.observation import PredictionObserver
    from conveyor.monitoring.profile import ReferenceProfile
    from conveyor.monitoring.profile_options import ProfileOptions
    from conveyor.monitoring.profiler import ProfileRecorder
    from conveyor.monitoring.recorder import OutcomeRecorder
    from conveyor.registry import Registry
    from conveyor.serving.feedback import LabelLog
    from conveyor.serving.metrics import GatewayMetrics
    from conveyor.serving.pool import ModelPool, Served
    from conveyor.serving.predlog import LogOptions, PredictionLog
    from conveyor.serving.routing import Router
    from conveyor.serving.shadow import ShadowRunner

log = logging.getLogger("conveyor.serving")
POLL_INTERVAL_S = 2.0
DRAIN_S = 10.0


class DeploymentWatcher:
    """Polls the store's routing tables; loads, warms, then routes to new versions."""

    def __init__(
        self,
        registry: Registry,
        ctx: Context,
        pool: ModelPool,
        router: Router,
        interval_s: float = POLL_INTERVAL_S,
        *,
        pinned: Iterable[tuple[str, int]] = (),
        drain_s: float = DRAIN_S,
    ) -> None:
        self.registry = registry
        self.ctx = ctx
        self.pool = pool
        self.router = router
        self.interval_s = interval_s
        self.pinned = frozenset(pinned)  # versions asked for by name: never unloaded
        self.drain_s = drain_s
        self._unrouted_since: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by poke() and stop(): poll now
        self._thread: threading.Thread | None = None

    def sync(self) -> list[str]:
        """Apply every table whose revision changed, and every table routing by an alias that
        moved; the models whose routing changed."""
        from conveyor.delivery.deployments import load_tables, moved_aliases

        store = self.registry.store
        changed = load_tables(store, self.router.revisions())
        reloaded = {table.model for table in changed}
        held = {m: t for m, t in self.router.tables().items() if m not in reloaded}
        applied = []
        for table in changed + moved_aliases(store, held):
            try:
                self._ready(table)
            except ConveyorError as exc:
                log.error(
                    "routing table of %s (revision %d) not applied: %s",
                    table.model,
                    table.revision,
                    exc,
                )
                continue
            before = self.router.tables().get(table.model)
            self.router.update(table)
            applied.append(table.model)
            log.info(
                "routing %s: %s -> %s (revision %s -> %d)",
                table.model,
                _describe(before) if before is not None else "latest loaded version",
                _describe(table),
                before.revision if before is not None else "none",
                table.revision,
            )
        self._unload_unrouted()
        return applied

    def _unload_unrouted(self) -> None:
        """Unload versions of routed models that no table has named for ``drain_s`` seconds."""
        tables = self.router.tables()
        named = {(model, v) for model, table in tables.items() for v in table.versions()}
        now = time.monotonic()
        for served in self.pool.all():
            key = (served.name, served.version)
            if served.name not in tables or key in named or key in self.pinned:
                self._unrouted_since.pop(key, None)
                continue
            since = self._unrouted_since.setdefault(key, now)
            if now - since >= self.drain_s:
                self.pool.remove(served.name, served.version)
                del self._unrouted_since[key]
                log.info("unloaded %s/%d: no routing table names it", *key)

    def _ready(self, table: RoutingTable) -> None:
        for version in table.versions():
            warm(self.pool.load(self.registry, self.ctx, table.model, version))

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="conveyor-routing", daemon=True)
        self._thread.start()

    def poke(self, model: str | None = None) -> None:
        """Poll now rather than at the next interval (``model``: the one whose table
        changed, for the caller's convenience; every table is read anyway). Returns at once;
        the poll runs in the watcher's thread."""
        self._wake.set()

    def stop(self) -> None:
        """Stop polling (waits for a poll in progress)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        unreachable = False  # said once when the store goes away, once when it is back
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()  # a poke during the poll below asks for one more poll
            if self._stop.is_set():
                return
            try:
                self.sync()
            except ConveyorError as exc:  # the store is unreachable: serve on, try again
                if not unreachable:
                    log.warning(
                        "cannot reach the store to read the routing tables; this gateway "
                        "keeps serving its last routing table (%s) and tries again every "
                        "%g s: %s",
                        self._last_tables(),
                        self.interval_s,
                        exc.message,
                    )
                unreachable = True
                continue
            if unreachable:
                log.info("reached the store again: following its routing tables")
                unreachable = False

    def _last_tables(self) -> str:
        tables = self.router.tables().values()
        return "; ".join(f"{t.model} revision {t.revision}: {_describe(t)}" for t in tables) or (
            "none: the versions it was started with"
        )


def warm(served: Served) -> None:
    """Predict the model's input example once, so the first real request is not the slow one."""
    example = served.model.input_example()
    if example is not None:
        served.model.predict(example)


def _describe(table: RoutingTable) -> str:
    routes = " ".join(f"{r.version}={table.share(r.version):.0%}" for r in table.routes)
    shadows = "".join(f" shadow {s.version}={s.share:g}" for s in table.shadows)
    return routes + shadows


def build_gateway(
    uris: Sequence[str], ctx: Context, *, trusted: Trust = False, poll: bool = True
) -> tuple[ModelPool, Router, DeploymentWatcher]:
    """The pool, router and watcher ``conveyor serve`` runs: the versions ``uris`` name plus
    every version of every routing table in the store, loaded and warmed before serving.

    Raises NotFoundError when there is nothing to serve.
    """
    from conveyor.errors import NotFoundError
    from conveyor.registry import Registry
    from conveyor.serving.pool import ModelPool
    from conveyor.serving.routing import Router

    registry = Registry(ctx)
    pool = ModelPool(trusted=trusted)
    for uri in uris:
        warm(pool.load_uri(registry, ctx, uri))
    pinned = [(served.name, served.version) for served in pool.all()]
    router = Router()
    watcher = DeploymentWatcher(registry, ctx, pool, router, pinned=pinned)
    watcher.sync()
    if not pool.all():
        raise NotFoundError(
            "nothing to serve: no --model was given and no model has a routing table",
            hint="conveyor serve --model NAME@ALIAS, or conveyor traffic set NAME 3=100",
        )
    if poll:
        watcher.start()
    return pool, router, watcher


@dataclass(frozen=True)
class Observers:
    """The gateway's prediction observers: the prediction log (if on), shadow traffic, and
    the outcome windows (if on; ``create_app(..., outcomes=...)`` takes them); the labels log
    ``POST /feedback`` writes to (``create_app(..., feedback=...)``); and the live profiles
    (if on; ``create_app(..., profiles=...)``)."""

    log: PredictionLog | None
    shadows: ShadowRunner
    outcomes: OutcomeRecorder | None = None
    labels: LabelLog | None = None
    profiles: ProfileRecorder | None = None

    def all(self) -> list[PredictionObserver]:
        """What ``create_app(..., observers=...)`` takes (the profiles go to
        ``create_app(..., profiles=...)``: they are told of model calls, not requests)."""
        return [self.shadows] if self.log is None else [self.log, self.shadows]

    def close(self) -> None:
        """Finish the queued shadow copies, then write what the logs still buffer (once),
        and every outcome window and live profile counted, the open ones too."""
        self.shadows.close()
        if self.log is not None:
            self.log.close()
        if self.labels is not None:
            self.labels.close()
        if self.outcomes is not None:
            self.outcomes.close()
        if self.profiles is not None:
            self.profiles.close()


def build_observers(
    pool: ModelPool,
    router: Router,
    ctx: Context,
    options: LogOptions,
    metrics: GatewayMetrics | None = None,
    *,
    outcomes: bool = True,
    profiles: ProfileOptions | None = None,
) -> Observers:
    """The prediction log into ``ctx``'s artifact store (unless ``options.enabled`` is
    False) and the shadow runner feeding it, counting into ``metrics``, (``outcomes``)
    the outcome windows written to ``ctx``'s metadata store every few seconds, the live
    profiles of inputs and predictions written beside them (``profiles``, on by default;
    masked fields as the log's), and the labels log of ``POST /feedback`` (same window);
    close them on shutdown. ``metrics`` also gets the monitor loop's gauges (drift per
    feature, performance, open alerts), read from the store."""
    from conveyor.monitoring.alerts.gauges import MonitorGauges
    from conveyor.monitoring.profile_options import ProfileOptions
    from conveyor.monitoring.profiler import ProfileRecorder
    from conveyor.monitoring.recorder import OutcomeRecorder
    from conveyor.serving.feedback import LabelLog
    from conveyor.serving.predlog import PredictionLog
    from conveyor.serving.shadow import ShadowRunner

    log = None
    if options.enabled:
        log = PredictionLog(
            ctx.artifacts_url,
            sample_rate=options.sample_rate,
            mask=options.mask,
            window_s=options.window_s,
            max_rows=options.max_rows,
            metrics=metrics,
        )
    recorder = None
    if outcomes:
        recorder = OutcomeRecorder(ctx.store.signals)
        recorder.start()
    labels = LabelLog(ctx.artifacts_url, window_s=options.window_s)
    chosen = profiles or ProfileOptions(mask=options.mask)
    profiler = None
    if chosen.enabled:
        profiler = ProfileRecorder(ctx.store.signals, _references(pool), options=chosen)
        profiler.start()
    if metrics is not None:
        metrics.add_collector(MonitorGauges(ctx.store))
    shadows = ShadowRunner(pool, router, log, metrics=metrics)
    return Observers(log, shadows, recorder, labels, profiler)


def _references(pool: ModelPool) -> Callable[[str, int], ReferenceProfile | None]:
    """A loaded version's reference profile, read from its model directory (None: the
    version is gone from the pool, or has no reference data)."""
    from conveyor.monitoring.profile import load_profile
    from conveyor.serving.errors import RequestError

    def reference(model: str, version: int) -> ReferenceProfile | None:
        try:
            served = pool.get(model, version)
        except RequestError:
            return None
        return load_profile(served.model.directory)

    return reference
