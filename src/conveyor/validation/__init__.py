"""Data validation: check CSV and Parquet files against a schema, with pandera.

::

    from conveyor.validation import infer_schema, load_schema, validate_file

    inferred = infer_schema(Path("data/train.csv"))       # a starting point to review
    report = validate_file(Path("data/new.csv"), load_schema(Path("schemas/train.yaml")))
    report.passed, report.findings

The schema format, inference defaults, chunking and the pipeline stage are described in
``docs/validation.md``. Modules: ``schema`` (the model), ``schema_file`` (YAML in and out),
``reader`` (chunked reading), ``convert`` (strict dtypes), ``compile`` (to pandera),
``check`` (validation), ``infer`` (and ``ranges``, its rule for min/max), ``declared``
(conveyor.yaml's ``validation:`` block).
"""

from __future__ import annotations

from conveyor.validation.check import validate_file, validate_frame
from conveyor.validation.declared import log_reports, validate_declared
from conveyor.validation.findings import Example, Finding, ValidationReport
from conveyor.validation.infer import InferredSchema, infer_frame, infer_schema
from conveyor.validation.ranges import RangeRule
from conveyor.validation.reader import DEFAULT_CHUNK_ROWS
from conveyor.validation.schema import ColumnSpec, DataSchema, ExprCheck, RowBounds
from conveyor.validation.schema_file import dump_schema, load_schema, parse_schema

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ColumnSpec",
    "DataSchema",
    "Example",
    "ExprCheck",
    "Finding",
    "InferredSchema",
    "RangeRule",
    "RowBounds",
    "ValidationReport",
    "dump_schema",
    "infer_frame",
    "infer_schema",
    "load_schema",
    "log_reports",
    "parse_schema",
    "validate_declared",
    "validate_file",
    "validate_frame",
]
