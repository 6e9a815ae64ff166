"""Outcome windows: what each model version answered, per fixed window, mergeable.

The gateway counts every prediction request it routed to a version into the window of the
moment the request finished: windows are ``WINDOW_S`` (10) seconds long and aligned to the
UTC clock (a window starts at a multiple of 10 s since the epoch), so every worker and
replica cuts time the same way. A window of one version holds:

- ``requests``, and the errors by class (:func:`error_class`): ``client_errors`` (4xx: the
  request was refused, e.g. inputs that do not match the signature), ``model_errors`` (5xx
  but 504: the model raised or answered non-finite values), ``timeouts`` (504);
- ``latency``: request counts in :data:`LATENCY_BINS` fixed log-spaced bins
  (:func:`latency_bin`): bin 0 is under 0.1 ms, bins 1-48 split 0.1 ms .. 100 s into eight
  bins per decade (each edge 1.33 times the one before, so a quantile read back is within
  one bin, i.e. about ±33 %), bin 49 is 100 s and over;
- ``labels``: predicted class labels (any non-float output) and their counts, at most
  :data:`LABEL_CAP` labels per window (the rest count as ``"other"``);
- ``values``: numeric (float) predictions per fixed signed log bin (:func:`value_bin`):
  ten bins per decade from 1e-9 to 1e9, mirrored for negative values, one bin for zero.

Because every bin edge is fixed, windows merge by adding counts: two workers' rows of the
same window, a range of windows into one (:func:`merge`), one version's windows across
replicas. A rollout controller or an alert in another process reads them with
:func:`outcomes` and :func:`merge`, then :func:`quantile` and :func:`error_rate`::

    windows = outcomes(ctx, "churn", since, until, version=4)
    total = merge(windows)
    error_rate(total), quantile(total, 0.99)

Requests the gateway answers before it knows the version (malformed JSON, an unknown
model) belong to no version and are not counted; nor are those uvicorn refuses with 503
past ``--limit-concurrency``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.errors import InvalidValue
from conveyor.store.entities import OutcomeWindow

if TYPE_CHECKING:
    from conveyor.context import Context

WINDOW_S = 10
LATENCY_MIN_S = 1e-4
LATENCY_PER_DECADE = 8
LATENCY_DECADES = 6  # 0.1 ms .. 100 s
LATENCY_BINS = LATENCY_PER_DECADE * LATENCY_DECADES + 2  # with under- and overflow: 50
LATENCY_EDGES = tuple(
    LATENCY_MIN_S * 10 ** (i / LATENCY_PER_DECADE)
    for i in range(LATENCY_PER_DECADE * LATENCY_DECADES + 1)
)
"""The 49 edges between the latency bins, in seconds: 0.0001, 0.000133, ..., 100."""
VALUE_PER_DECADE = 10
VALUE_MIN = 1e-9
VALUE_TOP_BIN = VALUE_PER_DECADE * 18 + 1  # 1e-9 .. 1e9, then overflow: 181
LABEL_CAP = 50
OTHER = "other"
ERROR_CLASSES = ("client_errors", "model_errors", "timeouts")


def latency_bin(seconds: float) -> int:
    """The latency bin of ``seconds``: 0 below 0.1 ms, 49 at 100 s and above."""
    if seconds < LATENCY_MIN_S:
        return 0
    found = int(math.log10(seconds / LATENCY_MIN_S) * LATENCY_PER_DECADE) + 1
    return min(found, LATENCY_BINS - 1)


def latency_bounds(index: int) -> tuple[float, float]:
    """The ``[low, high)`` seconds of latency bin ``index`` (bin 0 from 0, bin 49 to inf)."""
    low = 0.0 if index == 0 else LATENCY_EDGES[index - 1]
    high = math.inf if index >= LATENCY_BINS - 1 else LATENCY_EDGES[index]
    return low, high


def value_bin(value: float) -> int:
    """The signed bin of a numeric prediction: 0 for ``|value| < 1e-9``; else ``±k`` with
    ``k`` in 1..181 (``k`` = 1 + floor(10 * log10(|value| / 1e-9)), 181 for 1e9 and over)."""
    size = abs(value)
    if size < VALUE_MIN:
        return 0
    k = min(int(math.log10(size / VALUE_MIN) * VALUE_PER_DECADE) + 1, VALUE_TOP_BIN)
    return k if value > 0 else -k


def value_bounds(index: int) -> tuple[float, float]:
    """The ``[low, high)`` magnitude range of value bin ``index`` (its sign is the values')."""
    k = abs(index)
    if k == 0:
        return 0.0, VALUE_MIN
    low = VALUE_MIN * 10 ** ((k - 1) / VALUE_PER_DECADE)
    return low, math.inf if k == VALUE_TOP_BIN else VALUE_MIN * 10 ** (k / VALUE_PER_DECADE)


def error_class(status: int) -> str | None:
    """The error class of an HTTP status (a field of :class:`OutcomeWindow`), None if 2xx/3xx."""
    if status < 400:
        return None
    if status == 504:
        return "timeouts"
    return "client_errors" if status < 500 else "model_errors"


def window_start(moment: float, window_s: int = WINDOW_S) -> datetime:
    """The UTC start of the window holding ``moment`` (seconds since the epoch)."""
    return datetime.fromtimestamp(moment // window_s * window_s, UTC)


def merge(windows: Iterable[OutcomeWindow]) -> OutcomeWindow:
    """One window holding every count of ``windows`` (of one model; versions may differ: the
    first one's is kept). Its ``start`` is the earliest, ``window_s`` spans to the latest end.
    """
    items = list(windows)
    if not items:
        raise InvalidValue("there are no outcome windows to merge", hint="widen the range")
    latency = [0] * LATENCY_BINS
    labels: Counter[str] = Counter()
    values: Counter[int] = Counter()
    for window in items:
        for index, count in enumerate(window.latency):
            latency[index] += count
        labels.update(window.labels)
        values.update(window.values)
    start = min(w.start for w in items)
    end = max(w.start + timedelta(seconds=w.window_s) for w in items)
    return OutcomeWindow(
        model=items[0].model,
        version=items[0].version,
        start=start,
        window_s=int((end - start).total_seconds()),
        requests=sum(w.requests for w in items),
        client_errors=sum(w.client_errors for w in items),
        model_errors=sum(w.model_errors for w in items),
        timeouts=sum(w.timeouts for w in items),
        latency=tuple(latency),
        labels=dict(labels),
        values=dict(values),
        writers=sum(w.writers for w in items),
    )


def error_rate(window: OutcomeWindow) -> float | None:
    """The share of requests that got no prediction; None without requests."""
    return window.errors / window.requests if window.requests else None


def quantile(window: OutcomeWindow, q: float) -> float | None:
    """The ``q`` quantile of the window's request latency in seconds, from its histogram
    (interpolated geometrically inside the bin); None without requests. Within one bin of
    the exact quantile; 100 s stands for anything in the overflow bin."""
    if not 0.0 <= q <= 1.0:
        raise InvalidValue(f"a quantile must be between 0 and 1, got {q}")
    total = sum(window.latency)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(window.latency):
        if count and seen + count >= rank:
            low, high = latency_bounds(index)
            if index == 0:
                return LATENCY_MIN_S
            if math.isinf(high):
                return low
            return float(low * (high / low) ** ((rank - seen) / count))
        seen += count
    return LATENCY_EDGES[-1]  # pragma: no cover - rank <= total always finds a bin


def outcomes(
    ctx: Context, model: str, since: datetime, until: datetime, version: int | None = None
) -> list[OutcomeWindow]:
    """The windows of ``model`` (or of one ``version``) starting in ``[since, until)``,
    every writer's rows merged: one window per (start, version), by start then version.

    Windows still open in a gateway (the last ``WINDOW_S`` seconds plus its flush
    interval) are not there yet; read up to a few seconds before now for complete ones.
    """
    rows = ctx.store.signals.windows(model, since, until, version)
    return [merge(group) for group in _by_window(rows)]


def _by_window(rows: Sequence[OutcomeWindow]) -> list[list[OutcomeWindow]]:
    """``rows`` (sorted by start, version) grouped by (start, version)."""
    groups: list[list[OutcomeWindow]] = []
    for row in rows:
        if groups and (groups[-1][0].start, groups[-1][0].version) == (row.start, row.version):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups
