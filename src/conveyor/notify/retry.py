"""Retrying one notification to one target: exponential backoff with jitter, bounded.

Attempt ``n`` (from 1) that fails retryably waits ``d/2 + uniform(0, d/2)`` with
``d = min(CAP_S, BASE_S * 2**(n-1))`` — 0.25-0.5 s, 0.5-1 s, 1-2 s … — or what the
receiver's Retry-After asked, capped at ``CAP_S``. It stops at the target's
``max_attempts``, when the next wait would pass its ``max_total_s``, at a failure that is
not retryable (4xx other than 429, a redirect, a refused address), or when ``wait``
returns False (the dispatcher is closing and its deadline passed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from conveyor.errors import DeliveryFailed
from conveyor.notify.base import Notifier
from conveyor.notify.events import Notification

__all__ = ["BASE_S", "CAP_S", "backoff_s", "deliver"]

BASE_S = 0.5
CAP_S = 30.0


def backoff_s(attempt: int, rng: random.Random) -> float:
    """The wait after failed attempt ``attempt`` (1-based), with jitter."""
    ceiling = min(CAP_S, BASE_S * 2.0 ** (attempt - 1))
    jitter: float = rng.uniform(0, ceiling / 2)
    return ceiling / 2 + jitter


def deliver(
    notifier: Notifier,
    notification: Notification,
    *,
    wait: Callable[[float], bool],
    rng: random.Random,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send until delivered; the number of attempts, or the last :class:`DeliveryFailed`
    (with ``attempts`` set on it) when it gives up."""
    config = notifier.config
    give_up_at = clock() + config.max_total_s
    attempt = 0
    while True:
        attempt += 1
        try:
            notifier.send(notification)
            return attempt
        except DeliveryFailed as exc:
            delay = backoff_s(attempt, rng)
            if exc.retry_after is not None:
                delay = min(exc.retry_after, CAP_S)
            out_of_time = clock() + delay > give_up_at
            if not exc.retryable or attempt >= config.max_attempts or out_of_time:
                exc.attempts = attempt
                raise
            if not wait(delay):
                exc.attempts = attempt
                raise
