"""The prediction log's writer: every answered prediction as rows of Parquet in the artifact store.

:class:`PredictionLog` is a prediction observer. ``observe`` only appends to an in-memory
buffer (it runs on the event loop); a background thread turns the buffer into Arrow tables
every ``chunk_rows`` rows (short bursts of work, so requests in flight barely notice), masks
the fields it was told to mask, and writes one Parquet file per model per time window (or
per ``max_rows`` rows). The columns and the file layout are monitoring's
(:mod:`conveyor.monitoring.predlog_schema`), and so is the reader
(:func:`conveyor.monitoring.predictions.read_predictions`)::

    log = PredictionLog(ctx.artifacts_url, sample_rate=0.1, mask=["email"])
    app = create_app(pool, observers=[log])
    ...
    log.close()  # writes what is still buffered

Whether a request is logged is decided from its id (``sample_rate``), so a request's primary
and shadow rows are kept or dropped together. Shadow rows are compared with the primary's
here (:func:`compare`): ``agrees`` and, for numeric outputs, ``diff``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.errors import ConveyorError, InvalidValue
from conveyor.monitoring import predlog_schema as schema

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.artifacts import ArtifactStore
    from conveyor.flavors.base import Array, ModelInput
    from conveyor.monitoring.observation import Prediction
    from conveyor.serving.metrics import GatewayMetrics

log = logging.getLogger("conveyor.serving")
WINDOW_S = 60.0
MAX_ROWS = 10_000
CHUNK_ROWS = 500
_SPAN = float(2**64)


@dataclass(frozen=True)
class LogOptions:
    """How ``conveyor serve`` logs predictions (``enabled=False``: not at all)."""

    enabled: bool = True
    sample_rate: float = 1.0
    mask: tuple[str, ...] = ()
    window_s: float = WINDOW_S
    max_rows: int = MAX_ROWS


@dataclass(frozen=True)
class _Entry:
    prediction: Prediction
    primary: Prediction | None  # set for a shadow's prediction


def sampled(request_id: str, sample_rate: float) -> bool:
    """Whether request ``request_id`` is logged at ``sample_rate`` (the same in every process).

    >>> sampled("req-1", 1.0), sampled("req-1", 0.0)
    (True, False)
    """
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / _SPAN < sample_rate


def compare(primary: Array, shadow: Array) -> tuple[Array, Array | None]:
    """Per row: does the shadow agree with the primary, and by how much do numbers differ.

    Labels (integers, strings, booleans) agree when equal; floating-point outputs agree when
    ``numpy.isclose`` and also give ``diff = |shadow - primary|``.

    >>> compare(np.array([1, 0]), np.array([1, 1]))[0].tolist()
    [True, False]
    """
    first, second = np.asarray(primary), np.asarray(shadow)
    if first.shape != second.shape:
        return np.zeros(len(second), dtype=bool), None
    if first.dtype.kind == "f" or second.dtype.kind == "f":
        diff = np.abs(second.astype(float) - first.astype(float))
        agrees = np.isclose(second.astype(float), first.astype(float))
        return _per_row(agrees, np.all), _per_row(diff, np.max)
    return _per_row(first == second, np.all), None


def _per_row(values: Array, reduce: Any) -> Array:
    if values.ndim <= 1:
        return values
    result: Array = reduce(values.reshape(len(values), -1), axis=1)
    return result


class PredictionLog:
    """Buffers observed predictions and writes them as Parquet, one file per model per window.

    ``sample_rate`` (0..1) keeps that share of requests, decided from the request id;
    ``mask`` names input fields whose values are replaced by ``"***"`` before anything is
    written. Every ``chunk_rows`` buffered rows are converted to Arrow in the background; a
    model's window is written when it ends, or once it holds ``max_rows`` rows. Past ten times
    ``max_rows`` waiting (the store is unreachable), predictions are dropped and counted in
    :meth:`stats`. Call :meth:`close` to write the rest.
    """

    def __init__(
        self,
        artifacts_url: str,
        *,
        sample_rate: float = 1.0,
        mask: Sequence[str] = (),
        window_s: float = WINDOW_S,
        max_rows: int = MAX_ROWS,
        chunk_rows: int = CHUNK_ROWS,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        from conveyor.artifacts import ArtifactStore

        _check(sample_rate, window_s, max_rows)
        self.artifacts_url = artifacts_url
        self.sample_rate = sample_rate
        self.mask = tuple(mask)
        self.window_s = window_s
        self.max_rows = max_rows
        self.chunk_rows = max(1, min(chunk_rows, max_rows))
        self.metrics = metrics
        self._store: ArtifactStore = ArtifactStore(artifacts_url)
        self._buffer: list[_Entry] = []
        self._buffered_rows = 0
        self._tables: dict[tuple[str, float], list[Any]] = defaultdict(list)  # pyarrow Tables
        self._table_rows: dict[tuple[str, float], int] = defaultdict(int)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._counts = {"rows_written": 0, "files_written": 0, "dropped": 0, "write_errors": 0}
        self._thread = threading.Thread(target=self._run, name="conveyor-predlog", daemon=True)
        self._thread.start()

    def observe(self, prediction: Prediction) -> None:
        """Buffer an answered prediction (if its request is sampled); never blocks."""
        self._append(_Entry(prediction, None))

    def observe_shadow(self, shadow: Prediction, primary: Prediction) -> None:
        """Buffer a shadow version's prediction of the request ``primary`` answered."""
        self._append(_Entry(shadow, primary))

    def _append(self, entry: _Entry) -> None:
        if not sampled(entry.prediction.request_id, self.sample_rate):
            return
        rows = len(entry.prediction.inputs)
        with self._lock:
            if self._closed.is_set():
                return
            dropped = self._buffered_rows + self._waiting_rows >= 10 * self.max_rows
            if dropped:
                self._counts["dropped"] += 1
            else:
                self._buffer.append(entry)
                self._buffered_rows += rows
            full = self._buffered_rows >= self.chunk_rows
        if dropped:
            if self.metrics is not None:
                self.metrics.logged(entry.prediction.model, "dropped", rows)
            return
        if full:
            self._wake.set()

    def flush(self) -> list[str]:
        """Write everything buffered now; the names of the files written."""
        with self._write_lock:
            self._convert()
            return self._write(lambda key: True)

    def close(self) -> None:
        """Stop the background thread and write what is still buffered."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        self._wake.set()
        self._thread.join()
        self.flush()

    def stats(self) -> dict[str, int]:
        """Counters: rows and files written, predictions dropped, failed writes, buffered rows
        (not converted yet) and waiting rows (converted, their window not written yet)."""
        with self._lock:
            return {
                **self._counts,
                "buffered_rows": self._buffered_rows,
                "waiting_rows": self._waiting_rows,
            }

    @property
    def _waiting_rows(self) -> int:
        return sum(self._table_rows.values())

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._until_next_window())
            self._wake.clear()
            if self._closed.is_set():
                return
            with self._write_lock:
                self._convert()
                self._write(partial(self._due, time.time()))

    def _due(self, now: float, key: tuple[str, float]) -> bool:
        """A window is written once it has ended, or sooner if it holds ``max_rows`` rows."""
        return key[1] + self.window_s <= now or self._table_rows[key] >= self.max_rows

    def _until_next_window(self) -> float:
        now = time.time()
        return (math.floor(now / self.window_s) + 1) * self.window_s - now + 0.01

    def _convert(self) -> None:
        """The buffer to Arrow tables, per model and window (under the write lock)."""
        import pyarrow as pa

        with self._lock:
            entries, self._buffer, self._buffered_rows = self._buffer, [], 0
        groups: dict[tuple[str, float], list[_Entry]] = defaultdict(list)
        for entry in entries:
            at = entry.prediction.at.timestamp()
            groups[(entry.prediction.model, at - at % self.window_s)].append(entry)
        for key, group in groups.items():
            rows = sum(len(e.prediction.inputs) for e in group)
            try:
                table = pa.Table.from_pandas(_frame(group, self.mask), preserve_index=False)
            except (ValueError, TypeError, pa.ArrowException) as exc:
                log.error("prediction log: %d rows of %s not converted: %s", rows, key[0], exc)
                self._count("write_errors", 1)
                self._tell(key[0], "failed", rows)
                continue
            with self._lock:
                self._tables[key].append(table)
                self._table_rows[key] += rows

    def _write(self, due: Callable[[tuple[str, float]], bool]) -> list[str]:
        """Write the windows ``due`` says, one file each (under the write lock)."""
        import pyarrow as pa

        with self._lock:
            keys = sorted(key for key in self._tables if due(key))
            taken = {key: (self._tables.pop(key), self._table_rows.pop(key)) for key in keys}
        written = []
        for (model, start), (tables, rows) in taken.items():
            name = schema.file_name(model, datetime.fromtimestamp(start, UTC), self.window_s)
            try:
                table = pa.concat_tables(tables, promote_options="default")
                self._store.write_named(name, _parquet(table))
            except (ConveyorError, ValueError, TypeError, pa.ArrowException) as exc:
                log.error("prediction log: %d rows of %s not written: %s", rows, model, exc)
                self._count("write_errors", 1)
                self._tell(model, "failed", rows)
                continue
            self._count("files_written", 1)
            self._count("rows_written", rows)
            self._tell(model, "written", rows)
            written.append(name)
        return written

    def _tell(self, model: str, outcome: str, rows: int) -> None:
        if self.metrics is not None:
            self.metrics.logged(model, outcome, rows)

    def _count(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount


def _check(sample_rate: float, window_s: float, max_rows: int) -> None:
    if not 0 <= sample_rate <= 1:
        raise InvalidValue(
            f"the prediction log's sample rate is {sample_rate}; it must be between 0 and 1",
            hint="e.g. 0.1 logs one request in ten",
        )
    if not window_s > 0:
        raise InvalidValue(f"the prediction log's window is {window_s} s; it must be positive")
    if max_rows < 1:
        raise InvalidValue(f"the prediction log's max_rows is {max_rows}; it must be >= 1")


def _frame(entries: list[_Entry], mask: Sequence[str]) -> pd.DataFrame:
    """All entries' rows, built column by column in one go (per set of input columns).

    One DataFrame per entry and a ``concat`` of thousands of them cost about a millisecond per
    request, more than answering it; this is a few microseconds per row.
    """
    import pandas as pd

    # requests of one model share one column Index object: name each Index once, not per row
    by_index: dict[object, list[_Entry]] = defaultdict(list)
    for entry in entries:
        by_index[_index_key(entry.prediction.inputs)].append(entry)
    by_inputs: dict[tuple[str, ...], list[_Entry]] = defaultdict(list)
    for group in by_index.values():
        by_inputs[_input_names(group[0].prediction.inputs)].extend(group)
    frames = [_rows(group, names, mask) for names, group in by_inputs.items()]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _rows(entries: list[_Entry], names: tuple[str, ...], mask: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    predictions = [entry.prediction for entry in entries]
    counts = np.array([len(p.inputs) for p in predictions])
    rows = int(counts.sum())

    def each(values: list[Any], dtype: Any = None) -> Any:
        return np.repeat(np.array(values, dtype=dtype), counts)

    columns: dict[str, Any] = {
        schema.REQUEST_ID: each([p.request_id for p in predictions], object),
        schema.TIME: pd.DatetimeIndex(each([p.at for p in predictions]), tz=UTC).astype(
            "datetime64[us, UTC]"
        ),
        schema.MODEL: each([p.model for p in predictions], object),
        schema.VERSION: each([p.version for p in predictions], "int64"),
        schema.SHADOW_OF: pd.array(
            each([None if e.primary is None else e.primary.version for e in entries], object),
            dtype="Int64",
        ),
        schema.LATENCY_MS: each([p.latency_s * 1000.0 for p in predictions], float),
    }
    inputs = _stacked_inputs([p.inputs for p in predictions])
    for name, values in zip(names, _columns_of(inputs), strict=True):
        columns[schema.INPUT_PREFIX + name] = [schema.MASKED] * rows if name in mask else values
    columns[schema.OUTPUT] = _column(_stack([np.asarray(p.outputs) for p in predictions]))
    agrees: Any = pd.array([None] * rows, dtype="boolean")
    diff: Any = np.full(rows, np.nan)
    if any(entry.primary is not None for entry in entries):
        agreed, differs = [], []
        for entry, count in zip(entries, counts, strict=True):
            if entry.primary is None:
                agreed.append(pd.array([None] * count, dtype="boolean"))
                differs.append(np.full(count, np.nan))
                continue
            yes, by = compare(entry.primary.outputs, entry.prediction.outputs)
            agreed.append(pd.array(yes, dtype="boolean"))
            differs.append(by if by is not None else np.full(count, np.nan))
        agrees = pd.array(np.concatenate([a.to_numpy(object) for a in agreed]), dtype="boolean")
        diff = np.concatenate(differs).astype(float)
    columns[schema.AGREES] = agrees
    columns[schema.DIFF] = diff
    return pd.DataFrame(columns)


def _index_key(data: ModelInput) -> object:
    if hasattr(data, "columns"):
        return id(data.columns)  # the entries keep every Index alive while this runs
    return ("array", np.ndim(data), np.shape(data)[-1] if np.ndim(data) > 1 else 1)


def _stacked_inputs(inputs: list[ModelInput]) -> ModelInput:
    """The inputs one after the other: one numpy block when the frames hold one dtype (a
    fraction of ``pandas.concat``'s time for thousands of one-row frames)."""
    from conveyor.serving.batching import merge

    first = inputs[0]
    if hasattr(first, "dtypes") and first.dtypes.nunique() == 1:
        return np.concatenate([frame.to_numpy() for frame in inputs])  # type: ignore[union-attr]
    return merge(inputs)


def _input_names(data: ModelInput) -> tuple[str, ...]:
    if hasattr(data, "columns"):
        return tuple(str(name) for name in data.columns)
    matrix = np.asarray(data)
    return ("0",) if matrix.ndim == 1 else tuple(str(i) for i in range(matrix.shape[1]))


def _columns_of(data: ModelInput) -> Iterable[Any]:
    if hasattr(data, "columns"):
        return (data[name].to_numpy() for name in data.columns)
    matrix = np.asarray(data)
    if matrix.ndim == 1:
        return [matrix]
    return (matrix[:, i] for i in range(matrix.shape[1]))


def _stack(outputs: list[Array]) -> Array:
    """Outputs of several predictions, one after the other (shapes beyond rows may differ)."""
    shapes = {output.shape[1:] for output in outputs}
    if len(shapes) == 1:
        return np.concatenate(outputs)
    stacked = np.empty(sum(len(output) for output in outputs), dtype=object)
    stacked[:] = [row for output in outputs for row in output]
    return stacked


def _column(outputs: Array) -> Any:
    values = np.asarray(outputs)
    return values if values.ndim <= 1 else [row.tolist() for row in values]


def _parquet(table: Any) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
