"""Reading a holdout file (CSV or Parquet) whole, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import DataError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_frame(path: Path, label: str | None = None) -> pd.DataFrame:
    """The whole file as a DataFrame; ``label`` is how messages name it (its project path).

    Example::

        frame = read_frame(Path("data/prepared/test.csv"))
    """
    import pandas as pd

    shown = label or str(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{shown}: cannot read a {path.suffix or 'extension-less'} file",
            hint="holdout data must be CSV (.csv) or Parquet (.parquet)",
        )
    if not path.is_file():
        raise NotFoundError(
            f"{shown} does not exist", hint="run the pipeline (`conveyor run`) first"
        )
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{shown} is empty", hint="the holdout needs a header and rows") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{shown}: cannot be read as {kind}: {exc}") from None
    if frame.empty:
        raise DataError(f"{shown} has no rows", hint="the holdout needs at least one row")
    return frame
