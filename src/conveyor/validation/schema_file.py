"""Reading and writing ``schema.yaml``: errors with file and line, output meant for review.

Reading keeps PyYAML's node marks, so a typo is reported where it is::

    schemas/train.yaml:5:16: columns.age.dtyp: unknown key (did you mean 'dtype'?)

Writing puts each column on one line, in the data's column order, with the comments a
reviewer needs (see :func:`dump_schema`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from conveyor import yamlio
from conveyor.config import describe_errors
from conveyor.errors import ConfigError, NotFoundError
from conveyor.validation.schema import ColumnSpec, DataSchema

__all__ = ["dump_schema", "load_schema", "parse_schema"]

STRICT_COMMENT = "# true: columns not listed here are an error"
CHECKS_COMMENT = "# custom expressions, evaluated with DataFrame.eval"
NO_BOUND = 2**31  # PyYAML's "never wrap" width


def load_schema(path: Path) -> DataSchema:
    """Read and check the schema file at ``path``; errors name the file, line and key.

    Example::

        schema = load_schema(Path("schemas/train.yaml"))
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"schema file {path} does not exist",
            hint="write one, or infer it: conveyor validate --infer DATA -o " + str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read schema file {path}: {exc}") from None
    return parse_schema(text, str(path))


def parse_schema(text: str, source: str = "schema") -> DataSchema:
    """Parse schema YAML ``text``; ``source`` names the file in error messages."""
    try:
        data = yamlio.load(text, source)
    except yamlio.YAMLSyntaxError:
        yamlio.compose(text, source)  # raises with the line and column of the problem
        raise
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            f"{source}: expected a mapping with a 'columns' key, found {found}",
            hint="conveyor validate --infer DATA -o SCHEMA writes a starting point",
        )
    try:
        return DataSchema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            describe_errors(
                exc, yamlio.compose(text, source), source, root=DataSchema, title="invalid schema"
            )
        ) from None


class _Flow(dict[str, Any]):
    """A mapping written on one line: ``{dtype: int64, unique: true}``."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)


def dump_schema(schema: DataSchema, header: Sequence[str] = ()) -> str:
    """The schema as YAML: ``header`` lines as comments, then one line per column.

    Keys that hold their default are left out, except ``nullable``, which a reviewer
    should see either way. :func:`parse_schema` reads the text back to an equal schema.
    """
    document: dict[str, Any] = {}
    if schema.rows is not None:
        document["rows"] = _Flow(schema.rows.model_dump(exclude_none=True))
    document["strict"] = schema.strict
    document["columns"] = {name: _Flow(_column(spec)) for name, spec in schema.columns.items()}
    document["checks"] = [check.model_dump() for check in schema.checks]
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=NO_BOUND)
    lines = [("# " + line).rstrip() for line in header]
    for line in text.splitlines():
        if line in ("strict: true", "strict: false"):
            line = f"{line}  {STRICT_COMMENT}"
        elif line.startswith("checks:"):
            line = f"{line}  {CHECKS_COMMENT}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _column(spec: ColumnSpec) -> dict[str, Any]:
    written: dict[str, Any] = {"dtype": spec.dtype, "nullable": spec.nullable}
    if spec.unique:
        written["unique"] = True
    for key in ("min", "max", "finite", "allowed"):
        value = getattr(spec, key)
        if value is not None:
            written[key] = value
    return written
