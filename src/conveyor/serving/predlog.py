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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.errors import InvalidValue
from conveyor.monitoring import predlog_schema as schema
from conveyor.serving.windowed import Parts, WindowedWriter

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.flavors.base import Array, ModelInput
    from conveyor.monitoring.observation import Prediction
    from conveyor.serving.metrics import GatewayMetrics

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
    :meth:`stats`. Call :meth:`close` to write the rest. The buffering and writing are
    :class:`~conveyor.serving.windowed.WindowedWriter`'s, shared with the labels log.
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

        _check(sample_rate)
        self.artifacts_url = artifacts_url
        self.sample_rate = sample_rate
        self.mask = tuple(mask)
        self.window_s = window_s
        self.max_rows = max_rows
        self.metrics = metrics
        parts: Parts[_Entry] = Parts(
            what="prediction log",
            group=lambda entry: entry.prediction.model,
            at=lambda entry: entry.prediction.at.timestamp(),
            rows=lambda entry: len(entry.prediction.inputs),
            table=self._table,
            name=lambda model, start: schema.file_name(model, start, window_s),
            tell=None if metrics is None else metrics.logged,
        )
        self._writer = WindowedWriter(
            ArtifactStore(artifacts_url),
            parts,
            window_s=window_s,
            max_rows=max_rows,
            chunk_rows=chunk_rows,
            thread_name="conveyor-predlog",
        )
        self.chunk_rows = self._writer.chunk_rows

    def observe(self, prediction: Prediction) -> None:
        """Buffer an answered prediction (if its request is sampled); never blocks."""
        if sampled(prediction.request_id, self.sample_rate):
            self._writer.append(_Entry(prediction, None))

    def observe_shadow(self, shadow: Prediction, primary: Prediction) -> None:
        """Buffer a shadow version's prediction of the request ``primary`` answered."""
        if sampled(shadow.request_id, self.sample_rate):
            self._writer.append(_Entry(shadow, primary))

    def flush(self) -> list[str]:
        """Write everything buffered now; the names of the files written."""
        return self._writer.flush()

    def close(self) -> None:
        """Stop the background thread and write what is still buffered."""
        self._writer.close()

    def stats(self) -> dict[str, int]:
        """Counters: rows and files written, predictions dropped, failed writes, buffered rows
        (not converted yet) and waiting rows (converted, their window not written yet)."""
        return self._writer.stats()

    def _table(self, entries: list[_Entry]) -> Any:
        import pyarrow as pa

        return pa.Table.from_pandas(_frame(entries, self.mask), preserve_index=False)


def _check(sample_rate: float) -> None:
    if not 0 <= sample_rate <= 1:
        raise InvalidValue(
            f"the prediction log's sample rate is {sample_rate}; it must be between 0 and 1",
            hint="e.g. 0.1 logs one request in ten",
        )


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
