"""Counting outcome windows in a gateway process and writing them to the store.

The event loop calls :meth:`OutcomeRecorder.record` once per request and
:meth:`OutcomeRecorder.observe` once per answered prediction: each finds the open window's
tally of that version (two dictionary lookups) and adds to its counters under a lock that is
never held longer than a few increments or a reference swap, so the request path does no
I/O and allocates nothing but a version's first tally in a window. A daemon thread wakes
every ``flush_s`` seconds, takes the windows that have closed and writes them in one
transaction (:meth:`~conveyor.store.base.SignalRepository.add_windows`). A flush that
fails (the database is away) keeps its windows for the next one, at most
``MAX_UNSENT`` of them. :meth:`close`, which the gateway runs on shutdown (SIGTERM
included), writes everything left, the open window too: rows are summed on read, so a
partial window written now and its rest written by nobody is still exact.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from conveyor.errors import ConveyorError
from conveyor.monitoring.outcomes import (
    LABEL_CAP,
    LATENCY_BINS,
    OTHER,
    VALUE_MIN,
    VALUE_PER_DECADE,
    VALUE_TOP_BIN,
    WINDOW_S,
    error_class,
    latency_bin,
    value_bin,
    window_start,
)
from conveyor.store.entities import OutcomeWindow

if TYPE_CHECKING:
    from conveyor.store.base import SignalRepository

log = logging.getLogger("conveyor.monitoring")
FLUSH_S = 2.0
MAX_UNSENT = 10_000


class Answered(Protocol):
    """What :meth:`OutcomeRecorder.observe` reads of a prediction (the gateway's
    ``Prediction`` has it; monitoring never imports the gateway)."""

    @property
    def model(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def outputs(self) -> Any: ...


class Tally:
    """The mutable counts of one version in one open window."""

    __slots__ = (
        "client_errors",
        "labels",
        "latency",
        "model_errors",
        "requests",
        "timeouts",
        "values",
    )

    def __init__(self) -> None:
        self.requests = self.client_errors = self.model_errors = self.timeouts = 0
        self.latency = [0] * LATENCY_BINS
        self.labels: dict[str, int] = {}
        self.values: dict[int, int] = {}

    def window(self, model: str, version: int, start: float, window_s: int) -> OutcomeWindow:
        """These counts as the window of ``model`` ``version`` starting at ``start``."""
        return OutcomeWindow(
            model=model,
            version=version,
            start=window_start(start, window_s),
            window_s=window_s,
            requests=self.requests,
            client_errors=self.client_errors,
            model_errors=self.model_errors,
            timeouts=self.timeouts,
            latency=tuple(self.latency),
            labels=dict(self.labels),
            values=dict(self.values),
        )


Open = dict[str, dict[int, Tally]]  # model -> version -> tally


class OutcomeRecorder:
    """Per-version outcome windows of this process, flushed to ``signals`` by a thread.

    ``writer`` names this process in the rows it writes (default: host, pid and a random
    suffix); ``clock`` gives seconds since the epoch (tests pass their own).

    >>> recorder = OutcomeRecorder(store.signals)  # doctest: +SKIP
    >>> recorder.start()  # doctest: +SKIP
    >>> recorder.record("churn", 3, 200, 0.004)  # on the event loop  # doctest: +SKIP
    >>> recorder.close()  # writes the open window too  # doctest: +SKIP
    """

    def __init__(
        self,
        signals: SignalRepository,
        *,
        window_s: int = WINDOW_S,
        flush_s: float = FLUSH_S,
        writer: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signals = signals
        self.window_s = window_s
        self.flush_s = flush_s
        self.writer = writer or f"{socket.gethostname()[:80]}/{os.getpid()}/{secrets.token_hex(3)}"
        self._clock = clock
        self._lock = threading.Lock()
        self._index = int(clock() // window_s)  # the open window: start = index * window_s
        self._open: Open = {}
        self._closed: list[tuple[int, Open]] = []
        self._unsent: list[OutcomeWindow] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, model: str, version: int, status: int, seconds: float) -> None:
        """Count one request routed to ``model`` ``version``: its status and duration."""
        bin_ = latency_bin(seconds)
        failed = error_class(status) if status >= 400 else None
        with self._lock:
            tally = self._tally(model, version)
            tally.requests += 1
            tally.latency[bin_] += 1
            if failed is not None:
                setattr(tally, failed, getattr(tally, failed) + 1)

    def observe(self, prediction: Answered) -> None:
        """Count the predicted labels or value bins of an answered prediction."""
        outputs = np.asarray(prediction.outputs).reshape(-1)
        if outputs.dtype.kind == "f":
            found = _value_bins(outputs)
            with self._lock:
                _add(self._tally(prediction.model, prediction.version).values, found)
            return
        labels = _labels(outputs)
        with self._lock:
            counts = self._tally(prediction.model, prediction.version).labels
            for label, count in labels.items():
                if label not in counts and len(counts) >= LABEL_CAP:
                    label = OTHER
                counts[label] = counts.get(label, 0) + count

    def _tally(self, model: str, version: int) -> Tally:
        """The open window's tally of ``model`` ``version`` (the caller holds the lock)."""
        index = int(self._clock() // self.window_s)
        if index != self._index:
            self._roll(index)
        versions = self._open.get(model)
        if versions is None:
            versions = self._open[model] = {}
        tally = versions.get(version)
        if tally is None:
            tally = versions[version] = Tally()
        return tally

    def _roll(self, index: int) -> None:
        """Close the open window and open window ``index`` (the caller holds the lock)."""
        if self._open:
            self._closed.append((self._index, self._open))
            self._open = {}
        self._index = index

    def flush(self, *, everything: bool = False) -> int:
        """Write the closed windows (``everything``: the open one too) in one transaction;
        the number of rows written. A failure keeps them for the next flush."""
        with self._lock:
            now = int(self._clock() // self.window_s)
            if everything or now != self._index:
                self._roll(now + 1 if everything else now)
            closed, self._closed = self._closed, []
        windows = self._unsent + [
            tally.window(model, version, index * self.window_s, self.window_s)
            for index, models in closed
            for model, versions in models.items()
            for version, tally in versions.items()
        ]
        if not windows:
            return 0
        try:
            self.signals.add_windows(windows, self.writer)
        except ConveyorError as exc:
            self._unsent = windows[-MAX_UNSENT:]
            dropped = len(windows) - len(self._unsent)
            log.warning(
                "could not write %d outcome window(s), will retry%s: %s",
                len(windows),
                f" ({dropped} oldest dropped)" if dropped else "",
                exc,
            )
            return 0
        self._unsent = []
        return len(windows)

    def start(self) -> None:
        """Flush every ``flush_s`` seconds in a daemon thread until :meth:`close`."""
        self._thread = threading.Thread(target=self._run, name="conveyor-outcomes", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and write everything counted, the open window included."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush(everything=True)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()


def _labels(outputs: np.ndarray[Any, Any]) -> dict[str, int]:
    if len(outputs) == 1:  # the usual one-row request: np.unique costs tens of us
        return {str(outputs[0])[:64]: 1}
    unique, counts = np.unique(outputs.astype(str), return_counts=True)
    return {str(u)[:64]: int(c) for u, c in zip(unique.tolist(), counts.tolist(), strict=True)}


def _value_bins(outputs: np.ndarray[Any, Any]) -> dict[int, int]:
    """The value bins (:func:`~conveyor.monitoring.outcomes.value_bin`) of the finite
    values, counted; vectorised past one row."""
    if len(outputs) == 1:
        value = float(outputs[0])
        return {value_bin(value): 1} if np.isfinite(value) else {}
    finite = outputs[np.isfinite(outputs)].astype(np.float64)
    size = np.abs(finite)
    k = np.floor(np.log10(np.maximum(size, VALUE_MIN) / VALUE_MIN) * VALUE_PER_DECADE) + 1
    k = np.where(size < VALUE_MIN, 0, np.minimum(k, VALUE_TOP_BIN)) * np.sign(finite)
    unique, counts = np.unique(k.astype(np.int64), return_counts=True)
    return dict(zip(unique.tolist(), counts.tolist(), strict=True))


def _add(counts: dict[int, int], found: dict[int, int]) -> None:
    for key, count in found.items():
        counts[key] = counts.get(key, 0) + count
