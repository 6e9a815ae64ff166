"""``conveyor.yaml``: its schema, and errors that point at the file, line and field.

A project is a directory holding ``conveyor.yaml``::

    stages:
      train:
        cmd: python src/train.py
        deps: [src/train.py, data/prepared]
        params: [train.C]          # keys of params.yaml; or {other.yaml: [key, ...]}
        outs: [models/model.skops]
        metrics: [metrics.json]
        env: {SEED: "42"}
        cache: true                # false: outs are tracked but never stored or restored
        always_run: false          # true: run even when nothing changed

Parsing keeps PyYAML's node marks so that a pydantic error on ``stages.train.dep`` is
reported as ``conveyor.yaml:7:5: stages.train.dep: unknown key (did you mean 'deps'?)``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from conveyor import yamlio
from conveyor.errors import ConfigError
from conveyor.project import CONFIG_FILE, DEFAULT_PARAMS_FILE, path_problem

__all__ = ["CONFIG_FILE", "DEFAULT_PARAMS_FILE", "ProjectConfig", "StageConfig", "load_config"]

STAGE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
UNION_TAGS = {"str", "int", "float", "bool", "list", "dict"}  # pydantic's union branch names


def _stage_name(name: str) -> str:
    if not STAGE_NAME.fullmatch(name):
        raise ValueError(f"stage name {name!r} may hold only letters, digits, '_', '.' and '-'")
    return name


StageName = Annotated[str, AfterValidator(_stage_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageConfig(_Strict):
    """One stage of the pipeline, as written in ``conveyor.yaml``."""

    cmd: str | list[str] = Field(description="Shell command; a list runs its items in order.")
    desc: str | None = Field(default=None, description="One line saying what the stage does.")
    deps: list[str] = Field(default_factory=list, description="Files or directories read.")
    params: list[str | dict[str, list[str]]] = Field(
        default_factory=list, description="Keys of params.yaml, or {file: [keys]}."
    )
    outs: list[str] = Field(default_factory=list, description="Files or directories written.")
    metrics: list[str] = Field(default_factory=list, description="JSON/YAML metric files written.")
    env: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Environment variables set for the command."
    )
    cache: bool = Field(default=True, description="Store outs and restore them on a cache hit.")
    always_run: bool = Field(default=False, description="Run even when nothing changed.")

    @field_validator("cmd")
    @classmethod
    def _cmd_not_empty(cls, value: str | list[str]) -> str | list[str]:
        text = value if isinstance(value, str) else " ".join(value)
        if not text.strip():
            raise ValueError("the command is empty")
        return value

    @property
    def command(self) -> str:
        """The command as one shell string."""
        return self.cmd if isinstance(self.cmd, str) else " && ".join(self.cmd)


class ProjectConfig(_Strict):
    """The whole ``conveyor.yaml``."""

    stages: dict[StageName, StageConfig] = Field(description="The pipeline's stages by name.")

    @field_validator("stages")
    @classmethod
    def _some_stages(cls, stages: dict[str, StageConfig]) -> dict[str, StageConfig]:
        if not stages:
            raise ValueError("declare at least one stage")
        return stages


def load_config(path: Path) -> ProjectConfig:
    """Parse and validate one ``conveyor.yaml``; every error names file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = yamlio.load(text)
    except yamlio.YAMLSyntaxError:
        _compose(text, path)  # raises with the line and column of the problem
        raise
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path.name}: expected a mapping with a 'stages' key, found "
            f"{'an empty file' if data is None else type(data).__name__}",
            hint="run `conveyor init` to see a starter file",
        )
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, _compose(text, path), path)) from None
    for name, stage in config.stages.items():
        _check_paths(text, path, name, stage)
    return config


def _compose(text: str, path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        raise ConfigError(
            f"{where}: malformed YAML: {exc.problem}", hint=_excerpt(text, mark)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: malformed YAML: {exc}") from None


def _excerpt(text: str, mark: Any) -> str | None:
    if mark is None:
        return None
    lines = text.splitlines()
    if mark.line >= len(lines):
        return None
    return f"line {mark.line + 1}: {lines[mark.line].rstrip()}"


def _describe(exc: ValidationError, node: yaml.Node | None, path: Path) -> str:
    """Turn pydantic's errors into ``file:line:col: field.path: message`` lines."""
    messages: dict[tuple[Any, ...], list[str]] = {}
    for error in exc.errors():
        loc = _without_union_tags(error["loc"])
        messages.setdefault(tuple(loc), []).append(_message(error, loc))
    lines = []
    for at, found in messages.items():
        mark_node = _node_at(node, at)
        where = path.name
        if mark_node is not None:
            where += f":{mark_node.start_mark.line + 1}:{mark_node.start_mark.column + 1}"
        lines.append(f"{where}: {field_path(at) or '(top level)'}: {_merged(found)}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _without_union_tags(loc: Sequence[Any]) -> list[Any]:
    """Drop the names pydantic gives union branches (``str``, ``dict[str,list[str]]``)."""
    parts = [part for part in loc if not (isinstance(part, str) and "[" in part)]
    if parts and parts[-1] in UNION_TAGS and len(parts) > 1:
        parts = parts[:-1]  # a scalar union's branch name comes last
    return parts


def _merged(messages: list[str]) -> str:
    """One message for one mistake: "should be a valid string, integer or boolean"."""
    unique = list(dict.fromkeys(messages))
    kinds = [m.removeprefix("Input should be a valid ") for m in unique]
    if len(unique) > 1 and all(m.startswith("Input should be a valid ") for m in unique):
        return "should be a valid " + ", ".join(kinds[:-1]) + " or " + kinds[-1]
    return "; ".join(unique)


def _message(error: Mapping[str, Any], loc: Sequence[Any]) -> str:
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        model = StageConfig if len(loc) == 3 and loc[0] == "stages" else ProjectConfig
        close = difflib.get_close_matches(key, list(model.model_fields), n=1)
        known = ", ".join(model.model_fields)
        suggestion = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {known})"
        return f"unknown key{suggestion}"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _node_at(node: yaml.Node | None, loc: Sequence[Any]) -> yaml.Node | None:
    """Follow a pydantic location through the YAML node tree, as deep as it goes."""
    current = node
    for depth, part in enumerate(loc, start=1):
        if isinstance(current, yaml.MappingNode):
            match = next((k for k, v in current.value if k.value == str(part)), None)
            if match is None:
                return current
            value = next(v for k, v in current.value if k is match)
            current = match if depth == len(loc) else value
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                return current
            current = current.value[part]
        else:
            return current
    return current


def _check_paths(text: str, path: Path, name: str, stage: StageConfig) -> None:
    declared: list[tuple[list[str | int], str]] = [
        ([field, index], value)
        for field in ("deps", "outs", "metrics")
        for index, value in enumerate(getattr(stage, field))
    ]
    declared += [
        (["params", index, file], file)
        for index, item in enumerate(stage.params)
        if isinstance(item, dict)
        for file in item
    ]
    for loc, value in declared:
        problem = path_problem(value)
        if problem:
            mark_node = _node_at(_compose(text, path), ["stages", name, *loc])
            where = path.name
            if mark_node is not None:
                where += f":{mark_node.start_mark.line + 1}:{mark_node.start_mark.column + 1}"
            raise ConfigError(
                f"{where}: {field_path(['stages', name, *loc])}: {problem}",
                hint="write paths relative to the directory holding conveyor.yaml",
            )


def field_path(parts: Sequence[Any]) -> str:
    """``stages.train.deps[1]``: names joined by dots, list positions in brackets."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            text += f".{part}"
        else:
            text += f"[{str(part)!r}]"  # a key with dots or slashes, e.g. a file name
    return text.lstrip(".")
