"""The ``validation:`` block of ``conveyor.yaml``: data sets checked by name.

::

    validation:
      train:
        data: data/prepared/train.csv
        schema: schemas/train.yaml
        chunk_rows: 100000        # optional

``conveyor validate`` validates every entry, ``conveyor validate train`` one; each entry
is also the pipeline stage ``validate-train`` (see ``pipeline/spec.py``), and ``conveyor
check`` embeds the reports in its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import NotFoundError
from conveyor.validation.check import validate_file
from conveyor.validation.findings import ValidationReport
from conveyor.validation.schema_file import load_schema

if TYPE_CHECKING:
    from conveyor.config import ProjectConfig, ValidationConfig

__all__ = ["log_reports", "validate_declared", "validate_entry"]


def validate_declared(
    project_root: Path,
    config: ProjectConfig,
    names: Sequence[str] = (),
    *,
    chunk_rows: int | None = None,
) -> list[tuple[str, ValidationReport]]:
    """Validate the entries ``names`` (default: all), in order; paths are from the root.

    ``chunk_rows`` overrides each entry's own (``--chunk-rows``).

    A data or schema file that cannot be read raises (a DataError, a ConfigError...);
    data that breaks its schema is a report that did not pass. Example::

        for name, report in validate_declared(project.root, project.config):
            print(name, report.headline())
    """
    entries = config.validation
    for name in names:
        if name not in entries:
            close = difflib.get_close_matches(name, list(entries), n=1)
            known = ", ".join(entries) or "none declared"
            raise NotFoundError(
                f"no validation entry named {name!r} in conveyor.yaml"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"entries: {known}; to check a file, give its schema: "
                "conveyor validate FILE --schema SCHEMA",
            )
    return [
        (name, validate_entry(project_root, entries[name], chunk_rows=chunk_rows))
        for name in names or entries
    ]


def validate_entry(
    project_root: Path, entry: ValidationConfig, *, chunk_rows: int | None = None
) -> ValidationReport:
    """Validate one entry; the report names its files as conveyor.yaml does."""
    schema = load_schema(project_root / entry.schema_file)
    rows = chunk_rows or entry.chunk_rows
    report = validate_file(project_root / entry.data, schema, chunk_rows=rows)
    return replace(report, data=entry.data, schema=entry.schema_file)


def log_reports(results: Sequence[tuple[str, ValidationReport]]) -> None:
    """Log ``validation.NAME.failing_rows`` and ``validation.NAME.passed`` (1/0) on the
    active run: inside ``conveyor run``, the run of the stage ``validate-NAME``."""
    from conveyor.tracking import active_run

    metrics: dict[str, float] = {}
    for name, report in results:
        metrics[f"validation.{name}.failing_rows"] = report.failing_rows
        metrics[f"validation.{name}.passed"] = int(report.passed)
    run = active_run()
    run.log_metrics(metrics)
    run.flush()
