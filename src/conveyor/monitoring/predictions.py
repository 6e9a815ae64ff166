"""Reading the prediction log back: a model's rows for a time range and a version.

Only files whose window (from their name, see :mod:`~conveyor.monitoring.predlog_schema`)
overlaps ``[since, until)`` are opened, and each is read with the time and version filters
pushed down to Parquet, so a narrow range over a long log costs a listing and a few files::

    rows = read_predictions(ctx.artifacts_url, "churn", since=an_hour_ago, version=4)
    table = read_table(ctx.artifacts_url, "churn", since=an_hour_ago)  # Arrow
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.errors import ArtifactError
from conveyor.monitoring.predlog_schema import (
    BASE_COLUMNS,
    TIME,
    VERSION,
    file_window,
    model_prefix,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from conveyor.artifacts import ArtifactStore


def log_files(
    store: ArtifactStore, model: str, since: datetime | None = None, until: datetime | None = None
) -> list[str]:
    """The names of ``model``'s log files that can hold a row with ``since <= time < until``."""
    return [
        name
        for name in store.list_named(model_prefix(model))
        if (window := file_window(name)) is not None and window.overlaps(since, until)
    ]


def read_table(
    artifacts_url: str,
    model: str,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
) -> pa.Table | None:
    """The logged rows of ``model`` (of ``version`` if given) with ``since <= time < until``,
    as one Arrow table in file order; None when there are none."""
    import pyarrow as pa

    from conveyor.artifacts import ArtifactStore

    store = ArtifactStore(artifacts_url)
    filters = _filters(since, until, version)
    tables = [read_file(store, name, filters) for name in log_files(store, model, since, until)]
    tables = [table for table in tables if table.num_rows]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def read_predictions(
    artifacts_url: str,
    model: str,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
) -> pd.DataFrame:
    """The logged rows of ``model`` (of ``version`` if given) with ``since <= time < until``
    (UTC), as a DataFrame sorted by time. No rows: an empty frame with the base columns.

    >>> read_predictions(ctx.artifacts_url, "churn", since=yesterday)  # doctest: +SKIP
    """
    import pandas as pd

    table = read_table(artifacts_url, model, since, until, version)
    if table is None:
        return pd.DataFrame(columns=list(BASE_COLUMNS))
    rows = table.to_pandas()
    return rows.sort_values(TIME, kind="stable").reset_index(drop=True)


def _filters(
    since: datetime | None, until: datetime | None, version: int | None
) -> list[tuple[str, str, Any]] | None:
    found: list[tuple[str, str, Any]] = []
    if since is not None:
        found.append((TIME, ">=", since))
    if until is not None:
        found.append((TIME, "<", until))
    if version is not None:
        found.append((VERSION, "==", version))
    return found or None


def read_file(
    store: ArtifactStore,
    name: str,
    filters: list[tuple[str, str, Any]] | None,
    what: str = "prediction log",
) -> pa.Table:
    """One log file, filtered as it is read; a file that cannot be read names itself."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(store.path_of(name), filesystem=store.fs, filters=filters)
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactError(
            f"{what} file {name} in {store.url} could not be read: {exc}",
            hint="move the damaged file aside; the other files are read without it",
        ) from exc
