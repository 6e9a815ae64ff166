"""Sending off the caller's thread: one bounded queue and worker thread per target.

:meth:`Dispatcher.notify` only appends to the queues of the targets that want the event
and returns — a rollout controller or the gateway never waits on a receiver. Each target
has its own worker, so a receiver that is down (and retried for a minute) delays only its
own notifications. A full queue drops its OLDEST notification (the newest says more about
now), counts it, and logs one line per run of drops. :meth:`Dispatcher.close` stops
accepting, lets the workers drain until a deadline, then abandons what is left (counted
as dropped).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass

from conveyor.errors import DeliveryFailed
from conveyor.notify.base import Notifier
from conveyor.notify.events import Notification
from conveyor.notify.retry import deliver

__all__ = ["DEFAULT_QUEUE_SIZE", "Dispatcher", "TargetStats"]

log = logging.getLogger("conveyor.notify")

DEFAULT_QUEUE_SIZE = 1000


@dataclass(frozen=True)
class TargetStats:
    """Counts for one target since the dispatcher started."""

    name: str
    sent: int = 0
    failed: int = 0  # gave up after retries, or refused at once
    dropped: int = 0  # pushed out of a full queue, or left when close() timed out
    attempts: int = 0
    queued: int = 0


class _Worker:
    """One target's queue and the thread that empties it."""

    def __init__(self, notifier: Notifier, queue_size: int, rng: random.Random) -> None:
        self.notifier = notifier
        self._queue: deque[Notification] = deque()
        self._size = queue_size
        self._rng = rng
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._deadline = float("inf")  # monotonic; set by close()
        self._dropping = False
        self._counts = {"sent": 0, "failed": 0, "dropped": 0, "attempts": 0}
        self._thread = threading.Thread(
            target=self._run, name=f"conveyor-notify {notifier.name}", daemon=True
        )
        self._thread.start()

    def put(self, notification: Notification) -> None:
        with self._lock:
            if len(self._queue) >= self._size:
                self._queue.popleft()
                self._counts["dropped"] += 1
                if not self._dropping:  # one line per run of drops, not one per drop
                    self._dropping = True
                    log.warning(
                        "%s: queue full (%d), dropping the oldest notifications",
                        self.notifier.name,
                        self._size,
                    )
            self._queue.append(notification)
            self._ready.notify()

    def close(self, deadline: float) -> None:
        with self._lock:
            self._deadline = deadline
            self._closing.set()
            self._ready.notify()

    def join(self) -> None:
        self._thread.join(max(0.0, self._deadline - time.monotonic()) + 1.0)

    def stats(self) -> TargetStats:
        with self._lock:
            return TargetStats(self.notifier.name, queued=len(self._queue), **self._counts)

    def _run(self) -> None:
        while (notification := self._next()) is not None:
            self._deliver(notification)
        with self._lock:  # closed with work left: the deadline passed
            if self._queue:
                self._counts["dropped"] += len(self._queue)
                log.warning(
                    "%s: closed with %d notifications unsent", self.notifier.name, len(self._queue)
                )
                self._queue.clear()

    def _next(self) -> Notification | None:
        with self._lock:
            while not self._queue and not self._closing.is_set():
                self._ready.wait()
            if not self._queue or time.monotonic() >= self._deadline:
                return None
            if len(self._queue) < self._size:
                self._dropping = False
            return self._queue.popleft()

    def _deliver(self, notification: Notification) -> None:
        try:
            attempts = deliver(self.notifier, notification, wait=self._wait, rng=self._rng)
        except DeliveryFailed as exc:
            self._count(failed=1, attempts=exc.attempts)
            # The message names the target by kind and host only: no path, secret or signature.
            log.warning(
                "%s: %s %s not delivered after %d attempt(s): %s",
                self.notifier.name,
                notification.kind,
                notification.id,
                exc.attempts,
                exc.message,
            )
        except Exception:  # a bug in a notifier must not kill the worker
            self._count(failed=1, attempts=1)
            log.exception(
                "%s: %s %s failed", self.notifier.name, notification.kind, notification.id
            )
        else:
            self._count(sent=1, attempts=attempts)

    def _wait(self, seconds: float) -> bool:
        """Sleep between attempts; False when the wait would end past close()'s deadline."""
        end = time.monotonic() + seconds
        if end > self._deadline:
            return False
        if self._closing.wait(seconds):  # close() was called: its deadline now bounds us
            remaining = end - time.monotonic()
            if end > self._deadline:
                return False
            if remaining > 0:
                time.sleep(remaining)
        return True

    def _count(self, **increments: int) -> None:
        with self._lock:
            for key, value in increments.items():
                self._counts[key] += value


class Dispatcher:
    """Delivers notifications to ``notifiers`` in the background.

    Example::

        dispatcher = Dispatcher(build_notifiers(config, settings.environment()))
        dispatcher.notify(Notification("rollout.promoted", "churn", "3", "churn v3 promoted"))
        ...
        dispatcher.close(timeout_s=10)
    """

    def __init__(
        self,
        notifiers: list[Notifier],
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        seed: int | None = None,
    ) -> None:
        rng = random.Random(seed)
        self._workers = [_Worker(n, queue_size, random.Random(rng.random())) for n in notifiers]
        self._closed = False

    def notify(self, notification: Notification, targets: Collection[str] | None = None) -> None:
        """Queue ``notification`` for every target whose ``events`` match (of those named
        ``targets`` only, when given: an alert rule's ``notify:`` list); never blocks."""
        if self._closed:
            log.warning("notification %s after close(): not sent", notification.kind)
            return
        for worker in self._workers:
            config = worker.notifier.config
            if targets is not None and config.name not in targets:
                continue
            if config.wants(notification.kind):
                worker.put(notification)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, send what is queued for up to ``timeout_s``, drop the rest."""
        self._closed = True
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.close(deadline)
        for worker in self._workers:
            worker.join()

    def stats(self) -> list[TargetStats]:
        """Counts per target, in the order of ``notify:``."""
        return [worker.stats() for worker in self._workers]
