"""Reading and writing ``schema.yaml``: errors with file and line, output meant for review.

Reading keeps PyYAML's node marks, so a typo is reported where it is::

    schemas/train.yaml:5:16: columns.age.dtyp: unknown key (did you mean 'dtype'?)

Writing puts each column on one line, in the data's column order, with the comments a
reviewer needs (see :func:`dump_schema`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from conveyor import yamlio
from conveyor.config import _inner_model, _merged, _node_at, _without_union_tags, field_path
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
        _compose(text, source)  # raises with the line and column of the problem
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
        raise ConfigError(_describe(exc, _compose(text, source), source)) from None


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: malformed YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: malformed YAML: {exc}") from None


def _describe(exc: ValidationError, node: yaml.Node | None, source: str) -> str:
    """pydantic's errors as ``file:line:col: key.path: message`` lines."""
    messages: dict[tuple[Any, ...], list[str]] = {}
    for error in exc.errors():
        loc = _without_union_tags(error["loc"])
        messages.setdefault(tuple(loc), []).append(_message(error, loc))
    lines = []
    for at, found in messages.items():
        mark_node = _node_at(node, at)
        where = source
        if mark_node is not None:
            where += f":{mark_node.start_mark.line + 1}:{mark_node.start_mark.column + 1}"
        lines.append(f"{where}: {field_path(at) or '(top level)'}: {_merged(found)}")
    return "invalid schema:\n  " + "\n  ".join(lines)


def _message(error: Mapping[str, Any], loc: Sequence[Any]) -> str:
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        known = list(_model_at(loc[:-1]).model_fields)
        close = difflib.get_close_matches(key, known, n=1)
        return "unknown key" + (
            f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
        )
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _model_at(loc: Sequence[Any]) -> type[BaseModel]:
    """The model that holds the key at ``loc``, walking down from :class:`DataSchema`."""
    model: type[BaseModel] = DataSchema
    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue  # a list index, or a name chosen by the user (a column's name)
        found = _inner_model(model.model_fields[part].annotation)
        if found is None:
            break
        model = found
    return model


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
