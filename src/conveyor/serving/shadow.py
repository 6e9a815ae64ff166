"""Shadow traffic: copies of answered requests predicted by shadow versions, compared, logged.

:class:`ShadowRunner` is a prediction observer. For each answered prediction of a model whose
routing table has shadows, :meth:`Router.shadows` says which shadow versions get a copy
(deterministic per request id). The copy is queued (bounded; when the queue is full it is
dropped and counted, so the primary is never slowed) and predicted in a small thread pool
after the response went out. A worker gathers copies for ``collect_s`` (20 ms: nobody waits
for a shadow) and predicts them with one model call per shadow version, as in
:mod:`conveyor.serving.batching`, so shadowing 10% of traffic costs a few model calls a
second rather than one per copy; the shadow's output goes to the prediction log with
``shadow_of`` and its agreement with the primary, never to the client::

    shadows = ShadowRunner(pool, router, log)
    app = create_app(pool, router=router, observers=[log, shadows])
    ...
    shadows.close()  # finishes the queued copies
    log.close()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from conveyor.errors import NotFoundError
from conveyor.serving.batching import ROW_WISE_FLAVORS, merge, split_rows
from conveyor.serving.predlog import compare

if TYPE_CHECKING:
    from conveyor.flavors.base import Array
    from conveyor.monitoring.observation import Prediction
    from conveyor.serving.metrics import GatewayMetrics
    from conveyor.serving.pool import ModelPool
    from conveyor.serving.predlog import PredictionLog
    from conveyor.serving.routing import Router

log = logging.getLogger("conveyor.serving")
WORKERS = 2
QUEUE_SIZE = 1000
MAX_BATCH = 64  # copies taken off the queue at once, merged per shadow version
COLLECT_S = 0.02  # how long a worker gathers copies before predicting them
_STOP = None


class ShadowRunner:
    """Sends copies of answered requests to shadow versions in ``workers`` threads.

    ``stats()`` counts the copies sent, dropped (queue full), failed (the shadow raised or
    is not loaded) and the rows compared and agreeing.
    """

    def __init__(
        self,
        pool: ModelPool,
        router: Router,
        log: PredictionLog | None = None,
        *,
        workers: int = WORKERS,
        queue_size: int = QUEUE_SIZE,
        collect_s: float = COLLECT_S,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.pool = pool
        self.router = router
        self.log = log
        self.workers = workers
        self.queue_size = queue_size
        self.collect_s = collect_s
        self.metrics = metrics
        self._queue: queue.Queue[tuple[Prediction, int] | None] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._counts = {"sent": 0, "dropped": 0, "failed": 0, "compared": 0, "agreed": 0}
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"conveyor-shadow-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def observe(self, prediction: Prediction) -> None:
        """Queue a copy of ``prediction``'s request for each of its shadows; never blocks."""
        try:
            versions = self.router.shadows(prediction.model, prediction.request_id)
        except NotFoundError:  # a model without a routing table has no shadows
            return
        for version in versions:
            if version == prediction.version:  # a shadow asked for by name answered itself
                continue
            try:
                self._queue.put_nowait((prediction, version))
            except queue.Full:
                self._count(dropped=1)
                outcome = "dropped"
            else:
                self._count(sent=1)
                outcome = "sent"
            if self.metrics is not None:
                self.metrics.shadow(prediction.model, version, outcome)

    def stats(self) -> dict[str, float]:
        """``sent``, ``dropped``, ``failed``, ``compared`` and ``agreed`` rows, and
        ``agreement`` (agreed / compared, NaN before any comparison)."""
        with self._lock:
            counts: dict[str, float] = dict(self._counts)
        compared = counts["compared"]
        counts["agreement"] = counts["agreed"] / compared if compared else float("nan")
        return counts

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish the queued copies (up to ``timeout_s``) and stop the threads; once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        while (job := self._queue.get()) is not _STOP:
            jobs, stopping = [job], False
            # copies arriving meanwhile share the model calls; sleeping rather than waiting on
            # the queue spares a thread wake-up (and a GIL hand-over) per copy
            time.sleep(self.collect_s)
            while len(jobs) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                jobs.append(more)
            groups: dict[tuple[str, int], list[Prediction]] = {}
            for primary, version in jobs:
                groups.setdefault((primary.model, version), []).append(primary)
            for (model, version), primaries in groups.items():
                try:
                    self._shadow(model, version, primaries)
                except Exception as exc:  # never let a copy kill the worker
                    self._failed(model, version, primaries, exc)
            if stopping:
                return

    def _shadow(self, model: str, version: int, primaries: list[Prediction]) -> None:
        """Predict the copies for one shadow version: one merged call where the flavor allows."""
        try:
            served = self.pool.get(model, version)
        except Exception as exc:  # the shadow is not loaded (any more): every copy failed
            self._failed(model, version, primaries, exc)
            return
        if len(primaries) > 1 and served.flavor in ROW_WISE_FLAVORS:
            started = time.perf_counter()
            try:
                merged = served.model.predict(merge([p.inputs for p in primaries]))
                answers = split_rows(merged, [len(p.inputs) for p in primaries])
            except Exception:  # each copy on its own below says which one fails
                answers = None
            if answers is not None:
                took = time.perf_counter() - started
                for primary, outputs in zip(primaries, answers, strict=True):
                    self._record(primary, version, outputs, took)
                return
        for primary in primaries:
            started = time.perf_counter()
            try:
                outputs = served.model.predict(primary.inputs)
            except Exception as exc:  # a failing shadow is counted and logged, nothing else
                self._failed(model, version, [primary], exc)
                continue
            self._record(primary, version, outputs, time.perf_counter() - started)

    def _record(self, primary: Prediction, version: int, outputs: Array, took: float) -> None:
        shadow = replace(primary, version=version, outputs=outputs, latency_s=took)
        agrees, _ = compare(primary.outputs, outputs)
        agreed = int(agrees.sum())
        self._count(compared=len(agrees), agreed=agreed)
        if self.metrics is not None:
            self.metrics.shadow_compared(primary.model, version, len(agrees), agreed)
        if self.log is not None:
            self.log.observe_shadow(shadow, primary)

    def _failed(
        self, model: str, version: int, primaries: list[Prediction], exc: Exception
    ) -> None:
        self._count(failed=len(primaries))
        if self.metrics is not None:
            self.metrics.shadow(model, version, "failed", len(primaries))
        for primary in primaries:
            log.warning(
                "shadow %s/%d of request %s failed: %s",
                model,
                version,
                primary.request_id,
                type(exc).__name__,
            )

    def _count(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._counts[name] += amount
