"""Delayed labels: what ``POST /feedback`` received, its Parquet schema and its reader.

A label names the request it is for by the ``X-Request-ID`` the gateway answered with (and,
for a request of several rows, the row, from 0). The gateway's labels log writes them into
the artifact store, one file per window of arrival (not per model: a label need not say its
model, the request id is enough)::

    <artifacts>/labels/date=YYYY-MM-DD/<window start>-<window>-<id>.parquet

Columns: ``request_id``, ``row``, ``label`` (the JSON text of the value sent, so ``1``,
``"spam"``, ``true`` and ``2.5`` all keep their type), ``received_at`` (UTC) and ``model``
(null when not given). A label sent twice for one request and row: the later one counts
(a correction)::

    labels = read_labels(ctx.artifacts_url, since=monday, until=tuesday)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.monitoring.predictions import read_file
from conveyor.monitoring.predlog_schema import file_window, window_file_name

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from conveyor.artifacts import ArtifactStore

PREFIX = "labels"
REQUEST_ID = "request_id"
ROW = "row"
LABEL = "label"
RECEIVED_AT = "received_at"
MODEL = "model"
COLUMNS = (REQUEST_ID, ROW, LABEL, RECEIVED_AT, MODEL)


@dataclass(frozen=True)
class Label:
    """One received label: its request (and row), its value as JSON text, when it came."""

    request_id: str
    label: str
    received_at: datetime
    model: str | None = None
    row: int = 0


def file_name(start: datetime, window_s: float) -> str:
    """The name of a new labels file for the arrival window from ``start`` of ``window_s``."""
    return window_file_name(PREFIX, start, window_s)


def label_table(labels: list[Label]) -> pa.Table:
    """Labels as an Arrow table with the columns of this module."""
    import pyarrow as pa

    return pa.table(
        {
            REQUEST_ID: pa.array([x.request_id for x in labels], pa.string()),
            ROW: pa.array([x.row for x in labels], pa.int64()),
            LABEL: pa.array([x.label for x in labels], pa.string()),
            RECEIVED_AT: pa.array([x.received_at for x in labels], pa.timestamp("us", tz="UTC")),
            MODEL: pa.array([x.model for x in labels], pa.string()),
        }
    )


def label_files(
    store: ArtifactStore, since: datetime | None = None, until: datetime | None = None
) -> list[str]:
    """The labels files that can hold a label received at ``since <= time < until``."""
    return [
        name
        for name in store.list_named(PREFIX)
        if (window := file_window(name)) is not None and window.overlaps(since, until)
    ]


def read_labels(
    artifacts_url: str,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """The labels received at ``since <= received_at < until`` (UTC), the latest per request
    and row; with ``model``, those naming that model or none. Columns: :data:`COLUMNS`.

    >>> read_labels(ctx.artifacts_url, since=yesterday)  # doctest: +SKIP
    """
    import pandas as pd
    import pyarrow as pa

    from conveyor.artifacts import ArtifactStore

    store = ArtifactStore(artifacts_url)
    filters = _filters(since, until)
    names = label_files(store, since, until)
    tables = [read_file(store, name, filters, "labels") for name in names]
    tables = [table for table in tables if table.num_rows]
    if not tables:
        return pd.DataFrame({name: [] for name in COLUMNS})
    rows = pa.concat_tables(tables, promote_options="default").to_pandas()
    if model is not None:
        rows = rows[rows[MODEL].isna() | (rows[MODEL] == model)]
    rows = rows.sort_values(RECEIVED_AT, kind="stable")
    return rows.drop_duplicates([REQUEST_ID, ROW], keep="last").reset_index(drop=True)


def _filters(since: datetime | None, until: datetime | None) -> list[tuple[str, str, Any]] | None:
    found: list[tuple[str, str, Any]] = []
    if since is not None:
        found.append((RECEIVED_AT, ">=", since))
    if until is not None:
        found.append((RECEIVED_AT, "<", until))
    return found or None
