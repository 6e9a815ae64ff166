"""``POST /feedback``: delayed labels, checked, and the log that writes them.

A label is ``{"request_id": ..., "label": ...}`` (optional ``"model"``, and ``"row"`` for a
request of several rows, from 0), or a list of up to :data:`MAX_LABELS` of them; the id is
the ``X-Request-ID`` the gateway answered the prediction with. :func:`parse_feedback` checks
the whole body before anything is kept, so a batch is taken whole or refused with the index
and field of the first bad item. :class:`LabelLog` buffers what was taken and writes it to
the artifact store like the prediction log (:mod:`conveyor.serving.windowed`), one file per
window of arrival (:mod:`conveyor.monitoring.labels`)::

    labels = LabelLog(ctx.artifacts_url)
    app = create_app(pool, feedback=labels)
    ...
    labels.close()  # writes what is still buffered
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import orjson

from conveyor.monitoring import labels as schema
from conveyor.monitoring.labels import Label
from conveyor.serving import protocols
from conveyor.serving.errors import RequestError
from conveyor.serving.windowed import Parts, WindowedWriter

MAX_LABELS = 10_000
MAX_ID = 128
MAX_TEXT = 256
MAX_NUMBER = 2**53  # beyond it a label is not a class nor a sane target, and floats blur
FIELDS = ("request_id", "label", "model", "row")
WINDOW_S = 60.0
MAX_ROWS = 100_000


def read_body(raw: bytes, content_type: str | None) -> Any:
    """The JSON of a ``/feedback`` body. JSON has no NaN nor Infinity, but Python's ``json``
    writes them: such a body is read, so that its label is refused by index and field (422)
    rather than the whole body as malformed."""
    try:
        return protocols.read_json(raw, content_type)
    except RequestError as exc:
        if exc.status != 400:
            raise
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise exc from None


def parse_feedback(body: Any, received_at: datetime) -> list[Label]:
    """The labels of a ``/feedback`` body; 422 naming the first bad item and field.

    >>> [x.label for x in parse_feedback({"request_id": "r1", "label": 1}, datetime.now(UTC))]
    ['1']
    """
    if isinstance(body, dict):
        return [_label(body, None, received_at)]
    if not isinstance(body, list):
        raise RequestError(
            422,
            f"the body must be a label object or a list of them, got {_kind(body)}",
            field="body",
        )
    if not body:
        raise RequestError(422, "the list of labels is empty", field="body")
    if len(body) > MAX_LABELS:
        raise RequestError(
            422,
            f"{len(body)} labels in one request; at most {MAX_LABELS} are taken",
            field="body",
            hint="send them in several requests",
        )
    return [_label(item, index, received_at) for index, item in enumerate(body)]


def _label(item: Any, index: int | None, received_at: datetime) -> Label:
    where = "the label" if index is None else f"label [{index}]"

    def bad(field: str, message: str) -> RequestError:
        path = field if index is None else f"[{index}].{field}"
        return RequestError(422, f"{where}: {message}", field=path)

    if not isinstance(item, dict):
        path = "body" if index is None else f"[{index}]"
        raise RequestError(422, f"{where} must be an object, got {_kind(item)}", field=path)
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise bad(unknown[0], f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    request_id = item.get("request_id")
    if not isinstance(request_id, str) or not _sensible(request_id, MAX_ID):
        raise bad(
            "request_id",
            "request_id must be the X-Request-ID of the prediction "
            f"(1 to {MAX_ID} printable ASCII characters), got {_shown(request_id)}",
        )
    if "label" not in item:
        raise bad("label", "the label is missing")
    model = item.get("model")
    if model is not None and (not isinstance(model, str) or not _sensible(model, MAX_ID)):
        raise bad("model", f"model must be a model's name, got {_shown(model)}")
    row = item.get("row", 0)
    if isinstance(row, bool) or not isinstance(row, int) or row < 0:
        raise bad("row", f"row must be a whole number >= 0, got {_shown(row)}")
    return Label(request_id, _value(item["label"], bad), received_at, model, row)


def _value(value: Any, bad: Any) -> str:
    """The label as JSON text: a string, a finite number or a boolean."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise bad("label", f"a text label is at most {MAX_TEXT} characters")
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise bad("label", f"a number label must be finite and at most 2^53, got {value}")
        return orjson.dumps(value).decode()
    raise bad("label", f"the label must be a string, number or boolean, got {_kind(value)}")


def _sensible(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and text.isascii() and text.isprintable()


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:40] + ("..." if len(value) > 40 else ""))
    return _kind(value)


class LabelLog:
    """Buffers received labels and writes them as Parquet, one file per window of arrival."""

    def __init__(
        self,
        artifacts_url: str,
        *,
        window_s: float = WINDOW_S,
        max_rows: int = MAX_ROWS,
        chunk_rows: int = 1000,
    ) -> None:
        from conveyor.artifacts import ArtifactStore

        parts: Parts[list[Label]] = Parts(
            what="labels log",
            group=lambda labels: "",
            at=lambda labels: labels[0].received_at.timestamp(),
            rows=len,
            table=lambda batches: schema.label_table([x for batch in batches for x in batch]),
            name=lambda group, start: schema.file_name(start, window_s),
        )
        self._writer = WindowedWriter(
            ArtifactStore(artifacts_url),
            parts,
            window_s=window_s,
            max_rows=max_rows,
            chunk_rows=chunk_rows,
            thread_name="conveyor-labels",
        )

    def record(self, labels: list[Label]) -> bool:
        """Buffer the labels of one request (all received at once); never blocks. False if
        they were not kept (the log is closed, or the store has been unreachable too long)."""
        return bool(labels) and self._writer.append(labels)

    def receive(self, body: Any) -> int:
        """Check a ``/feedback`` body and buffer its labels; how many were taken.

        503 when they cannot be kept, so the sender knows to send them again later."""
        labels = parse_feedback(body, datetime.now(UTC))
        if not self.record(labels):
            raise RequestError(
                503,
                "the labels were not kept: the gateway is shutting down or cannot write to "
                "its artifact store",
                hint="send them again later",
            )
        return len(labels)

    def flush(self) -> list[str]:
        """Write everything buffered now; the names of the files written."""
        return self._writer.flush()

    def close(self) -> None:
        """Stop the background thread and write what is still buffered (once)."""
        self._writer.close()

    def stats(self) -> dict[str, int]:
        """The writer's counters (rows and files written, dropped, failed, buffered)."""
        return self._writer.stats()
