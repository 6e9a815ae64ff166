"""Adaptive micro-batching: concurrent requests for one model version share one model call.

A scikit-learn pipeline takes about as long to predict 30 rows as one (input checks,
pandas-to-numpy conversion and Python overhead dominate tiny inputs), so under concurrency the
gateway merges queued requests into one call and splits the answer back::

    batcher = Batcher(served, BatchPolicy(max_batch_size=32, max_wait_s=0.002))
    predicted, proba = await batcher.predict(frame, with_proba=False, timeout_s=30.0)

How a batch forms (per model version, one model call at a time):

- A request that finds the model idle runs at once, alone: no added latency without load.
- Requests that arrive while a call runs queue up; the next call takes them all, up to
  ``max_batch_size`` rows. The batch size follows the load by itself.
- Under concurrent load (the last call merged several requests) the next call may wait up to
  ``max_wait_s`` for as many requests as the last one had. It never waits at concurrency 1 and
  never past ``max_wait_s``: this is what keeps p95 from the blow-up of batchers that always
  wait for a full batch (bentoml discussion #3307).

If a merged call fails, each request of it is retried alone, so one bad row fails only its own
request. Only flavors whose rows are predicted independently are merged
(:data:`ROW_WISE_FLAVORS`); a python-function model may look at the whole batch, so its
requests each get their own call, concurrently in worker threads, as do all requests when
``max_batch_size`` is 1.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conveyor.errors import InvalidValue

if TYPE_CHECKING:
    import asyncio

    from conveyor.flavors.base import Array, ModelInput
    from conveyor.serving.pool import Served

ROW_WISE_FLAVORS = frozenset({"sklearn", "xgboost", "lightgbm", "onnx"})
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_S = 0.002

Answer = tuple["Array", "Array | None"]


@dataclass(frozen=True)
class BatchPolicy:
    """How far requests may be merged: rows per model call, and the longest wait for more."""

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_s: float = DEFAULT_MAX_WAIT_S

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise InvalidValue(
                f"max batch size must be at least 1 row, got {self.max_batch_size}",
                hint="use 1 to turn batching off",
            )
        if not 0 <= self.max_wait_s <= 1:
            raise InvalidValue(
                f"max batch wait must be between 0 and 1000 ms, got {self.max_wait_s * 1000:g} ms",
                hint="a few milliseconds at most; 0 merges only what is already queued",
            )

    @property
    def enabled(self) -> bool:
        """Whether requests are merged at all."""
        return self.max_batch_size > 1


@dataclass(frozen=True)
class BatchRecord:
    """One model call, as metrics and the live profiles see it.

    ``answered``: what the model answered in the call, as (input, predictions) pairs: one
    for a merged call, one per request answered alone; empty when it answered nothing.
    """

    model: str
    version: int
    rows: int
    requests: int
    queued_s: float  # how long the oldest request of the call waited for it to start
    took_s: float
    answered: tuple[tuple[ModelInput, Array], ...] = field(default=(), repr=False, compare=False)


BatchListener = Callable[[BatchRecord], None]


class ModelCallTimeout(Exception):
    """A model call ran past the request timeout; its requests were answered 504."""


@dataclass
class _Pending:
    data: ModelInput
    rows: int
    with_proba: bool
    future: asyncio.Future[Answer]
    queued_at: float = field(default_factory=time.perf_counter)


class Batcher:
    """The queue and the model calls of one served model version (see the module docstring)."""

    def __init__(
        self,
        served: Served,
        policy: BatchPolicy = BatchPolicy(),  # frozen: one shared default is safe
        *,
        listener: BatchListener | None = None,
    ) -> None:
        self.served = served
        self.policy = policy
        self.listener = listener
        self.merges = policy.enabled and served.flavor in ROW_WISE_FLAVORS
        self._queue: deque[_Pending] = deque()
        self._arrived: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._last_requests = 1

    async def predict(self, data: ModelInput, with_proba: bool, timeout_s: float) -> Answer:
        """Predictions (and probabilities if asked) for ``data``, answered by a shared call.

        Raises ``TimeoutError`` after ``timeout_s`` and the model's own error if its rows
        fail; the call itself goes on in its thread and its answer is dropped.
        """
        import asyncio  # here, not at the top: the CLI imports this module for its defaults

        import anyio

        if not self.merges:
            return await self._alone(data, with_proba, timeout_s)
        loop = asyncio.get_running_loop()
        pending = _Pending(data, len(data), with_proba, loop.create_future())
        self._queue.append(pending)
        if self._arrived is not None:
            self._arrived.set()
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run_queue(timeout_s))
        with anyio.fail_after(timeout_s):  # cancels the future: its call then skips it
            return await pending.future

    async def _alone(self, data: ModelInput, with_proba: bool, timeout_s: float) -> Answer:
        """Without merging, each request gets its own call in a worker thread, as many at once
        as the thread pool allows (serialising them would make one slow request everyone's)."""
        import anyio
        import anyio.to_thread

        started = time.perf_counter()
        with anyio.fail_after(timeout_s):
            answer = await anyio.to_thread.run_sync(
                _answer, self.served, data, with_proba, abandon_on_cancel=True
            )
        if self.listener is not None:
            took = time.perf_counter() - started
            answered = ((data, answer[0]),)
            self.listener(
                BatchRecord(
                    self.served.name, self.served.version, len(data), 1, 0.0, took, answered
                )
            )
        return answer

    async def _run_queue(self, timeout_s: float) -> None:
        """Make calls until the queue is empty, then stop (the next request starts another)."""
        while self._queue:
            if self.policy.max_wait_s > 0 and self._last_requests > 1:
                await self._wait_for_company(self._last_requests)
            batch = self._take()
            self._last_requests = len(batch)
            await self._call(batch, timeout_s)

    async def _wait_for_company(self, wanted: int) -> None:
        """Wait up to ``max_wait_s`` until ``wanted`` requests or a full batch are queued."""
        import asyncio

        deadline = time.perf_counter() + self.policy.max_wait_s
        self._arrived = asyncio.Event()
        try:
            while len(self._queue) < wanted and self._rows_queued() < self.policy.max_batch_size:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    return
        finally:
            self._arrived = None

    def _rows_queued(self) -> int:
        return sum(pending.rows for pending in self._queue)

    def _take(self) -> list[_Pending]:
        """The oldest request, plus as many more as fit in ``max_batch_size`` rows."""
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self.policy.max_batch_size:
            rows += self._queue[0].rows
            batch.append(self._queue.popleft())
        return batch

    async def _call(self, batch: list[_Pending], timeout_s: float) -> None:
        import anyio
        import anyio.to_thread

        live = [pending for pending in batch if not pending.future.done()]  # not timed out
        if not live:
            return
        started = time.perf_counter()
        answered: list[tuple[ModelInput, Array]] = []
        try:
            with anyio.fail_after(timeout_s):
                answers, answered = await anyio.to_thread.run_sync(
                    _answer_all, self.served, live, abandon_on_cancel=True
                )
        except TimeoutError:
            answers = [ModelCallTimeout() for _ in live]
        took = time.perf_counter() - started
        for pending, answer in zip(live, answers, strict=True):
            if pending.future.done():
                continue
            if isinstance(answer, BaseException):
                pending.future.set_exception(answer)
            else:
                pending.future.set_result(answer)
        if self.listener is not None:
            oldest = min(pending.queued_at for pending in live)
            record = BatchRecord(
                self.served.name,
                self.served.version,
                sum(pending.rows for pending in live),
                len(live),
                started - oldest,
                took,
                tuple(answered),
            )
            self.listener(record)


Answered = list[tuple["ModelInput", "Array"]]


def _answer_all(
    served: Served, batch: Sequence[_Pending]
) -> tuple[list[Answer | BaseException], Answered]:
    """One model call for the whole batch; if it fails, one call per request (in a thread).
    Also what the model answered, as (input, predictions) pairs (see :class:`BatchRecord`)."""
    if len(batch) > 1:
        try:
            wants_proba = any(pending.with_proba for pending in batch)
            merged = merge([p.data for p in batch])
            answer = _answer(served, merged, wants_proba)
            return _split(answer, batch), [(merged, answer[0])]
        except Exception:  # each request's own call below says whose rows failed
            pass
    answers: list[Answer | BaseException] = []
    answered: Answered = []
    for pending in batch:
        try:
            answer = _answer(served, pending.data, pending.with_proba)
        except Exception as exc:  # handed to that request's handler to report
            answers.append(exc)
            continue
        answers.append(answer)
        answered.append((pending.data, answer[0]))
    return answers, answered


def _answer(served: Served, data: ModelInput, with_proba: bool) -> Answer:
    import numpy as np

    # overflow in the model's arithmetic gives inf/NaN, which the gateway refuses (422)
    # rather than a warning per request in the server log
    with np.errstate(all="ignore"):
        predicted = served.model.predict(data)
        return predicted, served.model.predict_proba(data) if with_proba else None


def _split(answer: Answer, batch: Sequence[_Pending]) -> list[Answer | BaseException]:
    """Each request's rows of a merged answer, in the order they were merged."""
    predicted, proba = answer
    sizes = [pending.rows for pending in batch]
    rows = split_rows(predicted, sizes)
    probas = split_rows(proba, sizes) if proba is not None else [None] * len(batch)
    if rows is None or probas is None:
        raise ValueError(f"the model answered {len(predicted)} rows for {sum(sizes)}")
    return [
        (mine, mine_proba if pending.with_proba else None)
        for pending, mine, mine_proba in zip(batch, rows, probas, strict=True)
    ]


def split_rows(array: Array, sizes: Sequence[int]) -> list[Array] | None:
    """``array`` cut into consecutive pieces of ``sizes`` rows; None if the rows don't add up.

    >>> [part.tolist() for part in split_rows(np.arange(3), [1, 2])]  # doctest: +SKIP
    [[0], [1, 2]]
    """
    if len(array) != sum(sizes):
        return None
    parts, start = [], 0
    for size in sizes:
        parts.append(array[start : start + size])
        start += size
    return parts


def merge(inputs: Sequence[ModelInput]) -> ModelInput:
    """Stack model inputs by rows: 2-D arrays, or DataFrames with the same columns."""
    import numpy as np
    import pandas as pd

    if len(inputs) == 1:
        return inputs[0]
    if isinstance(inputs[0], pd.DataFrame):
        return pd.concat(inputs, ignore_index=True)  # ~50 us for 16 one-row frames
    return np.concatenate([np.asarray(part) for part in inputs])
