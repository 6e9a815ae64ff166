"""The prediction log's schema: its columns and where its files are.

One Parquet file per model per time window (or per ``max_rows`` rows of a window)::

    <artifacts>/predictions/<model>/date=YYYY-MM-DD/<window start>-<window>-<id>.parquet
    e.g.        predictions/churn/date=2024-05-01/20240501T120000Z-60s-3f2a9c1e0b7d.parquet

The date is the window start's (UTC). The name carries the window's start and length, so a
reader knows from the name alone which times a file can hold, ``[start, start + window)``,
and opens only the files that overlap the range it wants. (Files written before the length
was in the name, ``<start>-<id>.parquet``, may hold any time from their start on.)

One row per input row: ``request_id``, ``time`` (UTC), ``model``, ``version``,
``input.<name>`` per feature (masked fields hold ``"***"``), ``output``, ``latency_ms``;
shadow rows also carry ``shadow_of`` (the version that answered), ``agrees`` and, for
numeric outputs, ``diff``.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PREFIX = "predictions"
REQUEST_ID = "request_id"
TIME = "time"
MODEL = "model"
VERSION = "version"
SHADOW_OF = "shadow_of"
LATENCY_MS = "latency_ms"
INPUT_PREFIX = "input."
OUTPUT = "output"
AGREES = "agrees"
DIFF = "diff"
BASE_COLUMNS = (REQUEST_ID, TIME, MODEL, VERSION, SHADOW_OF, LATENCY_MS)
MASKED = "***"

_NAME = re.compile(
    r"(?P<start>\d{8}T\d{6})(?:\.(?P<ms>\d{3}))?Z(?:-(?P<window>\d+(?:\.\d+)?)s)?-[0-9a-f]+\.parquet"
)


@dataclass(frozen=True)
class FileWindow:
    """The times a log file can hold: from ``start``, for ``length`` (None: unknown)."""

    start: datetime
    length: timedelta | None

    def overlaps(self, since: datetime | None, until: datetime | None) -> bool:
        """Whether the file can hold a row with ``since <= time < until``."""
        if until is not None and self.start >= until:
            return False
        if since is None or self.length is None:
            return True
        return self.start + self.length > since


def model_prefix(model: str) -> str:
    """The folder (artifact store name) holding every log file of ``model``."""
    return f"{PREFIX}/{model}"


def file_name(model: str, start: datetime, window_s: float) -> str:
    """The name of a new log file for ``model``'s window from ``start`` (UTC) of ``window_s``."""
    return window_file_name(model_prefix(model), start, window_s)


def window_file_name(folder: str, start: datetime, window_s: float) -> str:
    """A new file's name in ``folder`` for the window from ``start`` (UTC) of ``window_s``:
    ``<folder>/date=YYYY-MM-DD/<start>Z-<window>s-<id>.parquet`` (the labels log uses it too).
    """
    start = start.astimezone(UTC)
    named = start.replace(microsecond=start.microsecond // 1000 * 1000)  # milliseconds
    stamp = named.strftime("%Y%m%dT%H%M%S")
    if named.microsecond:
        stamp += f".{named.microsecond // 1000:03d}"
    # rounded up to a millisecond from the named start, so the name never promises less
    length_ms = math.ceil(((start - named).total_seconds() + window_s) * 1000 - 1e-6)
    window = f"{length_ms / 1000:.3f}".rstrip("0").rstrip(".")
    unique = uuid.uuid4().hex[:12]
    return f"{folder}/date={start:%Y-%m-%d}/{stamp}Z-{window}s-{unique}.parquet"


def file_window(name: str) -> FileWindow | None:
    """The window a log file's name says it holds; None for a name that is not a log file's.

    >>> file_window("predictions/churn/date=2024-05-01/20240501T120000Z-60s-3f2a.parquet").length
    datetime.timedelta(seconds=60)
    """
    found = _NAME.fullmatch(name.rsplit("/", 1)[-1])
    if found is None:
        return None
    start = datetime.strptime(found["start"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    start += timedelta(milliseconds=int(found["ms"] or 0))
    window = found["window"]
    return FileWindow(start, None if window is None else timedelta(seconds=float(window)))
