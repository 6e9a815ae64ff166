"""Reading CSV and Parquet files a chunk at a time, with every failure as a DataError.

Memory stays bounded by the chunk size: CSV is read with pandas' ``chunksize``, Parquet
with pyarrow's ``iter_batches`` (one row group is decoded at a time, so a file written as
one huge row group costs that row group). Chunks carry the global row number as their
index: row 0 is the first data row (line 2 of a CSV file with its header).

A CSV file has no types: pandas guesses each chunk's, and the guesses may differ between
chunks (a column of integers with one empty cell is read as floats). Validation turns each
chunk into the schema's dtypes (:mod:`conveyor.validation.convert`); inference first merges
the guesses of every chunk (:func:`column_dtypes`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from conveyor.errors import DataError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_CHUNK_ROWS", "data_format", "iter_chunks"]

DEFAULT_CHUNK_ROWS = 250_000
Format = Literal["csv", "parquet"]
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq")


def data_format(path: Path) -> Format:
    """``csv`` or ``parquet``, from the file name; a DataError for anything else."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    known = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise DataError(
        f"cannot tell the format of {path}: unknown extension {path.suffix or '(none)'!r}",
        hint=f"name the file with one of: {known}",
    )


def iter_chunks(
    path: Path, chunk_rows: int = DEFAULT_CHUNK_ROWS, text_columns: Collection[str] = ()
) -> Iterator[pd.DataFrame]:
    """The file's rows, ``chunk_rows`` at a time; at least one (maybe empty) chunk.

    ``text_columns`` are read from CSV as text, untouched (``"007"`` stays ``"007"``).
    """
    if not path.exists():
        raise NotFoundError(f"data file {path} does not exist")
    fmt = data_format(path)
    with reading(path, fmt):
        if fmt == "csv":
            yield from _csv_chunks(path, chunk_rows, text_columns)
        else:
            yield from _parquet_chunks(path, chunk_rows)


@contextmanager
def reading(path: Path, fmt: Format) -> Iterator[None]:
    """Translate what pandas and pyarrow raise while reading ``path`` into our errors."""
    import pandas as pd
    import pyarrow as pa

    try:
        yield
    except FileNotFoundError:
        raise NotFoundError(f"data file {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory; give a CSV or Parquet file") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: expected a header line with the column names") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} is not valid CSV: {_first_line(exc)}") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
            hint="save the file as UTF-8",
        ) from None
    except (pa.ArrowException, OSError) as exc:
        what = "a readable Parquet file" if fmt == "parquet" else "readable"
        raise DataError(f"{path} is not {what}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _csv_chunks(
    path: Path, chunk_rows: int, text_columns: Collection[str]
) -> Iterator[pd.DataFrame]:
    import pandas as pd

    header = pd.read_csv(path, nrows=0, encoding="utf-8-sig")  # a BOM (Excel) is dropped
    text = {name: "str" for name in header.columns if name in text_columns}
    empty = True
    options = {"dtype": text, "low_memory": False, "encoding": "utf-8-sig"}
    with pd.read_csv(path, chunksize=chunk_rows, **options) as chunks:
        for chunk in chunks:
            empty = False
            yield chunk
    if empty:
        yield header


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pandas as pd
    import pyarrow.parquet as pq

    with pq.ParquetFile(path, pre_buffer=False) as parquet:  # pre-buffering costs ~60 MB
        metadata = parquet.schema_arrow.pandas_metadata or {}
        stored_index = [c for c in metadata.get("index_columns", []) if isinstance(c, str)]
        columns = [c for c in parquet.schema_arrow.names if c not in stored_index]
        start = 0
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield frame
        if start == 0:
            yield parquet.schema_arrow.empty_table().select(columns).to_pandas()
