"""Profiling live traffic in a gateway process and writing the profiles beside the outcome windows.

The gateway hands the recorder each model call (:meth:`ProfileRecorder.observe_call`, a
batch listener: under load one call answers many merged requests, so there is one input per
call to stack, not one per request); :meth:`ProfileRecorder.observe` takes one prediction.
Both run on the event loop and only append to a list under a lock (no numpy, no I/O). A
daemon thread wakes every ``flush_s`` seconds, or as soon as ``chunk_rows`` rows wait (so
inputs are not held long: the fewer live objects, the cheaper every garbage collection of
the event loop), takes the list, stacks the inputs of each (model, version, window) into one
array per column (one ``to_numpy`` per call and one ``concatenate``, never a loop per row)
and counts them into that window's :class:`~conveyor.monitoring.live_profile.LiveProfile`
(vectorised per column: a sort, two ``searchsorted`` of the reference's edges, one KLL
update), then writes the windows that have closed in one transaction
(:meth:`~conveyor.store.base.SignalRepository.add_profiles`). :meth:`close`, run at the
gateway's shutdown, writes the open window too: rows are merged on read, so a partial window
is still exact.

Why the metadata store and not the artifact store: a profile window is the same kind of
thing as an outcome window (a small, bounded, mergeable summary per version and window, one
append-only row per writer, never updated), read the same way (one indexed query for a
range, every writer's rows merged by the reader), and it is bounded by the caps below. The
prediction log and the labels go to the artifact store because they are row data of any
size; a profile is not.

Bounded: at most ``max_features`` features per version (the reference profile's first
ones), cells fixed by the reference profile (at most ``profile.MAX_BINS`` quantiles per
numeric feature), frequent-items sketches of ``sketches.FREQUENT_LG_MAP`` slots, and at most
``max_buffered_rows`` rows waiting for the thread; past that, rows are dropped and counted in
the window (``dropped``), never silently. A window that cannot be written is kept for the
next flush, at most :data:`MAX_UNSENT` of them.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from conveyor.errors import ConveyorError
from conveyor.monitoring.live_profile import LiveProfile
from conveyor.monitoring.profile import ReferenceProfile
from conveyor.monitoring.profile_options import ProfileOptions
from conveyor.store.entities import ProfileWindow

if TYPE_CHECKING:
    from conveyor.flavors.base import Array, ModelInput
    from conveyor.monitoring.observation import Prediction
    from conveyor.store.base import SignalRepository

log = logging.getLogger("conveyor.monitoring")
FLUSH_S = 2.0
CHUNK_ROWS = 1_000
"""Rows that wake the thread early; each wake costs ~50 us per feature whatever its rows."""
MAX_BUFFERED_ROWS = 200_000
MAX_UNSENT = 100

References = Callable[[str, int], ReferenceProfile | None]
Key = tuple[str, int, int]  # model, version, window index
Answered = Sequence[tuple["ModelInput", "Array"]]  # (input, predictions) of one model call
Item = tuple[str, int, float, Answered]  # model, version, when (epoch s), what was answered


class ModelCall(Protocol):
    """What :meth:`ProfileRecorder.observe_call` reads of a model call (the gateway's
    ``BatchRecord`` has it; monitoring never imports the gateway)."""

    @property
    def model(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def answered(self) -> Answered: ...


class ProfileRecorder:
    """Live profiles of this process, per model version and window, flushed to ``signals``.

    ``references(model, version)`` gives a version's reference profile (None: it has no
    reference data, and its traffic is not profiled); it is asked once per version, in the
    background thread. ``writer`` names this process in its rows (default: host, pid and a
    random suffix); ``clock`` gives seconds since the epoch (tests pass their own).

    >>> recorder = ProfileRecorder(store.signals, references)  # doctest: +SKIP
    >>> recorder.start()  # doctest: +SKIP
    >>> recorder.observe(prediction)  # on the event loop  # doctest: +SKIP
    >>> recorder.close()  # writes the open window too  # doctest: +SKIP
    """

    def __init__(
        self,
        signals: SignalRepository,
        references: References,
        *,
        options: ProfileOptions | None = None,
        flush_s: float = FLUSH_S,
        writer: str | None = None,
        clock: Callable[[], float] = time.time,
        max_buffered_rows: int = MAX_BUFFERED_ROWS,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.signals = signals
        self.options = options or ProfileOptions()
        self.window_s = self.options.window_s
        self.flush_s = flush_s
        self.writer = writer or f"{socket.gethostname()[:80]}/{os.getpid()}/{secrets.token_hex(3)}"
        self.max_buffered_rows = max_buffered_rows
        self.chunk_rows = chunk_rows
        self._references = references
        self._clock = clock
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._buffer: list[Item] = []
        self._buffered_rows = 0
        self._dropped: dict[Key, int] = defaultdict(int)
        self._known: dict[tuple[str, int], ReferenceProfile | None] = {}
        self._open: dict[Key, LiveProfile] = {}
        self._unsent: list[ProfileWindow] = []
        self._counts = {"rows": 0, "dropped": 0, "unprofiled": 0, "written": 0, "failed": 0}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def observe_call(self, call: ModelCall) -> None:
        """Keep what one model call answered for the thread (event loop: a lock, an append)."""
        if call.answered:
            self._keep((call.model, call.version, self._clock(), call.answered))

    def observe(self, prediction: Prediction) -> None:
        """Keep one answered prediction for the thread (the observer contract)."""
        answered = ((prediction.inputs, prediction.outputs),)
        self._keep((prediction.model, prediction.version, prediction.at.timestamp(), answered))

    def _keep(self, item: Item) -> None:
        rows = sum(len(data) for data, _ in item[3])
        with self._lock:
            if self._buffered_rows + rows <= self.max_buffered_rows:
                self._buffer.append(item)
                self._buffered_rows += rows
                full = self._buffered_rows >= self.chunk_rows
            else:
                self._dropped[(item[0], item[1], self._index(item[2]))] += rows
                full = True
        if full:
            self._wake.set()

    def flush(self, *, everything: bool = False) -> int:
        """Count what is buffered, then write the closed windows (``everything``: the open
        ones too) in one transaction; the number of rows written. A failed write keeps
        them for the next flush."""
        with self._write_lock:
            self._absorb()
            now = int(self._clock() // self.window_s)
            done = [key for key in self._open if everything or key[2] < now]
            windows = [self._window(key, self._open.pop(key)) for key in sorted(done)]
            pending = self._unsent + windows
            if not pending:
                return 0
            try:
                self.signals.add_profiles(pending, self.writer)
            except ConveyorError as exc:
                self._unsent = pending[-MAX_UNSENT:]
                self._count("failed", len(pending) - len(self._unsent))
                log.warning(
                    "could not write %d profile window(s), will retry: %s", len(pending), exc
                )
                return 0
            self._unsent = []
            self._count("written", len(pending))
            return len(pending)

    def start(self) -> None:
        """Flush every ``flush_s`` seconds in a daemon thread until :meth:`close`."""
        self._thread = threading.Thread(target=self._run, name="conveyor-profiles", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and write everything counted, the open windows included."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush(everything=True)

    def stats(self) -> dict[str, int]:
        """Rows counted, rows dropped (the thread was behind), rows of versions without a
        reference profile, windows written, windows given up after failed writes."""
        with self._lock:
            return dict(self._counts)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

    def _index(self, at: float) -> int:
        return int(at // self.window_s)

    def _count(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount

    def _absorb(self) -> None:
        """Count the buffered predictions into their windows' profiles (write lock held)."""
        with self._lock:
            items, self._buffer, self._buffered_rows = self._buffer, [], 0
            dropped, self._dropped = self._dropped, defaultdict(int)
        groups: dict[Key, list[tuple[ModelInput, Array]]] = defaultdict(list)
        for model, version, at, answered in items:
            groups[(model, version, self._index(at))].extend(answered)
        for key, group in groups.items():
            profile = self._profile(key)
            if profile is None:
                self._count("unprofiled", sum(len(data) for data, _ in group))
                continue
            for columns, rows, outputs in stack(group, between=_yield):
                try:
                    profile.add(columns, rows, outputs, between=_yield)
                except (ValueError, TypeError) as exc:  # values no profile cell can take
                    log.error("profile of %s/%d: %d rows not counted: %s", *key[:2], rows, exc)
                    profile.dropped += rows
                    continue
                self._count("rows", rows)
        for key, rows in dropped.items():
            self._count("dropped", rows)
            profile = self._profile(key)
            if profile is not None:
                profile.dropped += rows

    def _profile(self, key: Key) -> LiveProfile | None:
        """The open profile of ``key``, made on first use; None without a reference."""
        found = self._open.get(key)
        if found is not None:
            return found
        reference = self._reference(key[0], key[1])
        if reference is None:
            return None
        names = reference.names[: self.options.max_features]
        made = LiveProfile.empty(reference, names, unsketched=set(self.options.mask))
        self._open[key] = made
        return made

    def _reference(self, model: str, version: int) -> ReferenceProfile | None:
        if (model, version) not in self._known:
            try:
                found = self._references(model, version)
            except ConveyorError as exc:  # unreadable: say so once, serve on unprofiled
                log.error("no live profiles for %s/%d: %s", model, version, exc)
                found = None
            self._known[(model, version)] = found
        return self._known[(model, version)]

    def _window(self, key: Key, profile: LiveProfile) -> ProfileWindow:
        model, version, index = key
        start = datetime.fromtimestamp(index * self.window_s, UTC)
        return ProfileWindow(model, version, start, self.window_s, profile.rows, profile.to_bytes())


Batch = tuple[dict[str, Any], int, Any]  # columns by name, rows, outputs (or None)
STACK_SLICE = 200  # inputs stacked between two offers of the interpreter (~0.5 ms)


def _yield() -> None:
    """Give the interpreter to the event loop if it waits for it (``sleep(0)`` releases the
    GIL). Without it, a thread counting for milliseconds keeps the GIL until the switch
    interval forces it out, and the event loop waits that long after each of its system
    calls: the convoy effect, which costs requests more than the thread's CPU does."""
    time.sleep(0)


def stack(answered: Answered, between: Callable[[], None] | None = None) -> list[Batch]:
    """Many (input, predictions) pairs as one array per column: one batch per input layout
    (the calls of one version nearly always share one). DataFrames of one dtype are stacked
    as one numpy block (a fraction of ``pandas.concat``'s time for thousands of small
    frames); others are concatenated by pandas; arrays by numpy. ``between`` is called
    every :data:`STACK_SLICE` inputs."""
    import pandas as pd

    by_layout: dict[object, list[tuple[ModelInput, Array]]] = defaultdict(list)
    for pair in answered:
        by_layout[_layout(pair[0])].append(pair)
    out: list[Batch] = []
    for group in by_layout.values():
        inputs = [data for data, _ in group]
        first = inputs[0]
        if isinstance(first, pd.DataFrame):
            names = [str(c) for c in first.columns]
            if first.dtypes.nunique() == 1:
                blocks = []
                for start in range(0, len(inputs), STACK_SLICE):
                    part = inputs[start : start + STACK_SLICE]
                    blocks += [frame.to_numpy() for frame in part]  # type: ignore[union-attr]
                    if between is not None:
                        between()
                matrix = np.concatenate(blocks)
                columns = {name: matrix[:, i] for i, name in enumerate(names)}
            else:
                frame = pd.concat(inputs, ignore_index=True)
                columns = {name: frame.iloc[:, i] for i, name in enumerate(names)}
            rows = sum(len(frame) for frame in inputs)
        else:
            matrix = np.concatenate([_matrix(data) for data in inputs])
            columns = {str(i): matrix[:, i] for i in range(matrix.shape[1])}
            rows = len(matrix)
        out.append((columns, rows, _outputs(outputs for _, outputs in group)))
    return out


def _layout(data: Any) -> object:
    if hasattr(data, "columns"):
        return id(data.columns)  # frames of one route share one Index object
    shape = np.shape(data)
    return ("array", shape[1] if len(shape) > 1 else 1)


def _matrix(data: Any) -> np.ndarray[Any, Any]:
    array = np.asarray(data)
    return array.reshape(len(array), -1)


def _outputs(outputs: Iterable[Any]) -> Any:
    """The outputs one after the other; None when their shapes differ (not profiled)."""
    parts = [np.asarray(output) for output in outputs]
    if len({part.shape[1:] for part in parts}) != 1:
        return None
    return np.concatenate(parts)
