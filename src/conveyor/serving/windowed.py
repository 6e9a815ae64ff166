"""Buffered Parquet writing per group per time window, in a background thread.

What the prediction log and the labels log share: ``append`` only puts an item in an
in-memory list (it runs on the event loop, so it takes one lock and never blocks on I/O);
a background thread turns the list into Arrow tables every ``chunk_rows`` rows, grouped by
``(group, window start)``, and writes one Parquet file per group and window once the window
has ended (or holds ``max_rows`` rows). ``close`` writes the rest. Past ten times
``max_rows`` rows waiting (the store is unreachable), items are dropped and counted::

    writer = WindowedWriter(store, parts, window_s=60, thread_name="conveyor-labels")
    writer.append(item)
    writer.close()

What the items are, how they become a table and what the files are called is the
:class:`Parts` the owner gives.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from conveyor.errors import ConveyorError, InvalidValue

if TYPE_CHECKING:
    from conveyor.artifacts import ArtifactStore

log = logging.getLogger("conveyor.serving")
Item = TypeVar("Item")
Key = tuple[str, float]  # (group, window start in seconds since the epoch)


@dataclass(frozen=True)
class Parts(Generic[Item]):
    """What a writer needs to know of its items.

    ``group`` and ``at`` (seconds since the epoch) place an item in a file; ``rows`` counts
    its rows; ``table`` turns a group's items into one Arrow table; ``name`` gives a new
    file's artifact name for a group's window start; ``tell`` (optional) hears of each
    outcome (``written``, ``failed``, ``dropped``) with the rows concerned.
    """

    what: str
    group: Callable[[Item], str]
    at: Callable[[Item], float]
    rows: Callable[[Item], int]
    table: Callable[[list[Item]], Any]
    name: Callable[[str, datetime], str]
    tell: Callable[[str, str, int], None] | None = None


class WindowedWriter(Generic[Item]):
    """Buffers items and writes them as Parquet, one file per group per window."""

    def __init__(
        self,
        store: ArtifactStore,
        parts: Parts[Item],
        *,
        window_s: float,
        max_rows: int,
        chunk_rows: int,
        thread_name: str,
    ) -> None:
        check_window(parts.what, window_s, max_rows)
        self.parts = parts
        self.window_s = window_s
        self.max_rows = max_rows
        self.chunk_rows = max(1, min(chunk_rows, max_rows))
        self._store = store
        self._buffer: list[Item] = []
        self._buffered_rows = 0
        self._tables: dict[Key, list[Any]] = defaultdict(list)  # pyarrow Tables
        self._table_rows: dict[Key, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._counts = {"rows_written": 0, "files_written": 0, "dropped": 0, "write_errors": 0}
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def append(self, item: Item) -> bool:
        """Buffer ``item``; never blocks. False if it was not kept: closed already, or
        dropped (and counted) because too much is waiting to be written."""
        rows = self.parts.rows(item)
        with self._lock:
            if self._closed.is_set():
                return False
            dropped = self._buffered_rows + self._waiting_rows >= 10 * self.max_rows
            if dropped:
                self._counts["dropped"] += 1
            else:
                self._buffer.append(item)
                self._buffered_rows += rows
            full = self._buffered_rows >= self.chunk_rows
        if dropped:
            self._tell(self.parts.group(item), "dropped", rows)
            return False
        if full:
            self._wake.set()
        return True

    def flush(self) -> list[str]:
        """Write everything buffered now; the names of the files written."""
        with self._write_lock:
            self._convert()
            return self._write(lambda key: True)

    def close(self) -> None:
        """Stop the background thread and write what is still buffered (once)."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        self._wake.set()
        self._thread.join()
        self.flush()

    def stats(self) -> dict[str, int]:
        """Counters: rows and files written, items dropped, failed writes, buffered rows
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

    def _due(self, now: float, key: Key) -> bool:
        """A window is written once it has ended, or sooner if it holds ``max_rows`` rows."""
        return key[1] + self.window_s <= now or self._table_rows[key] >= self.max_rows

    def _until_next_window(self) -> float:
        now = time.time()
        return (math.floor(now / self.window_s) + 1) * self.window_s - now + 0.01

    def _convert(self) -> None:
        """The buffer to Arrow tables, per group and window (under the write lock)."""
        import pyarrow as pa

        with self._lock:
            items, self._buffer, self._buffered_rows = self._buffer, [], 0
        groups: dict[Key, list[Item]] = defaultdict(list)
        for item in items:
            at = self.parts.at(item)
            groups[(self.parts.group(item), at - at % self.window_s)].append(item)
        for key, group in groups.items():
            rows = sum(self.parts.rows(item) for item in group)
            try:
                table = self.parts.table(group)
            except (ValueError, TypeError, pa.ArrowException) as exc:
                log.error("%s: %d rows of %s not converted: %s", self.parts.what, rows, key[0], exc)
                self._count("write_errors", 1)
                self._tell(key[0], "failed", rows)
                continue
            with self._lock:
                self._tables[key].append(table)
                self._table_rows[key] += rows

    def _write(self, due: Callable[[Key], bool]) -> list[str]:
        """Write the windows ``due`` says, one file each (under the write lock)."""
        import pyarrow as pa

        with self._lock:
            keys = sorted(key for key in self._tables if due(key))
            taken = {key: (self._tables.pop(key), self._table_rows.pop(key)) for key in keys}
        written = []
        for (group, start), (tables, rows) in taken.items():
            name = self.parts.name(group, datetime.fromtimestamp(start, UTC))
            try:
                table = pa.concat_tables(tables, promote_options="default")
                self._store.write_named(name, parquet_bytes(table))
            except (ConveyorError, ValueError, TypeError, pa.ArrowException) as exc:
                log.error("%s: %d rows of %s not written: %s", self.parts.what, rows, group, exc)
                self._count("write_errors", 1)
                self._tell(group, "failed", rows)
                continue
            self._count("files_written", 1)
            self._count("rows_written", rows)
            self._tell(group, "written", rows)
            written.append(name)
        return written

    def _tell(self, group: str, outcome: str, rows: int) -> None:
        if self.parts.tell is not None:
            self.parts.tell(group, outcome, rows)

    def _count(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount


def check_window(what: str, window_s: float, max_rows: int) -> None:
    """Refuse a window that is not positive and a ``max_rows`` under one."""
    if not window_s > 0:
        raise InvalidValue(f"the {what}'s window is {window_s} s; it must be positive")
    if max_rows < 1:
        raise InvalidValue(f"the {what}'s max_rows is {max_rows}; it must be >= 1")


def parquet_bytes(table: Any) -> bytes:
    """An Arrow table as the bytes of one Parquet file."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
