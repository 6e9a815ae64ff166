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
import itertools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

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
from conveyor.monitoring.alerts.config import MonitorConfig
from conveyor.notify.config import NotifyConfig
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


class ValidationConfig(_Strict):
    """One data set checked against its schema; it runs as the stage ``validate-NAME``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    data: str = Field(description="The CSV or Parquet file to validate.")
    schema_file: str = Field(alias="schema", description="The schema YAML it must satisfy.")
    chunk_rows: int | None = Field(
        default=None, ge=1, description="Validate this many rows at a time (large files)."
    )

    @field_validator("data", "schema_file")
    @classmethod
    def _inside_project(cls, value: str) -> str:
        problem = path_problem(value)
        if problem:  # these paths become deps of the stage validate-NAME
            raise ValueError(f"{problem}; write paths relative to the directory of conveyor.yaml")
        return value


class EvaluationConfig(_Strict):
    """What ``conveyor evaluate`` and ``conveyor check`` score, and on which holdout."""

    data: str = Field(description="The holdout file (CSV or Parquet), with the target column.")
    target: str = Field(description="The column holding the true values.")
    model: str | None = Field(
        default=None,
        description="The candidate's model URI; default: the model the pipeline in "
        "conveyor.lock logged, else runs:/latest/model.",
    )
    name: str | None = Field(
        default=None, description="The registered model: its champion, where to promote."
    )
    task: Literal["auto", "binary", "multiclass", "regression"] = Field(
        default="auto", description="auto: binary/multiclass for labels, else regression."
    )
    positive_label: str | int | None = Field(
        default=None, description="Binary tasks: the class whose probability is scored."
    )
    slices: list[str] = Field(
        default_factory=list, description="Columns to report metrics by (numbers: quartiles)."
    )
    latency_calls: int = Field(
        default=200, ge=10, description="Single-row predict calls timed for latency."
    )


class ComparisonGate(_Strict):
    """Candidate vs champion on one metric: paired bootstrap interval of the difference."""

    metric: str = Field(description="A metric both models are scored on, e.g. roc_auc.")
    mode: Literal["non-inferiority", "superiority"] = Field(
        default="non-inferiority",
        description="non-inferiority: not worse by more than margin; superiority: better by it.",
    )
    margin: float = Field(default=0.0, ge=0, description="In the metric's own units.")


class ChampionGates(_Strict):
    """Gates that compare the candidate with the model behind an alias, same holdout."""

    alias: str = Field(default="champion", description="The alias of the model to beat.")
    compare: list[ComparisonGate] = Field(default_factory=list, description="Metrics compared.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Interval coverage.")
    resamples: int = Field(default=2000, ge=200, description="Bootstrap resamples.")
    seed: int = Field(default=0, description="Seed of the bootstrap (same seed, same answer).")


class FairnessGate(_Strict):
    """The largest gap of a rate between the groups of a sensitive column."""

    column: str = Field(description="The sensitive column (kept out of the features).")
    metric: Literal["demographic_parity", "equal_opportunity"] = Field(
        default="demographic_parity",
        description="Positive-prediction rate, or true-positive rate, per group.",
    )
    max_gap: float = Field(ge=0, le=1, description="The largest gap allowed between groups.")
    min_group_size: int = Field(default=30, ge=1, description="Smaller groups are left out.")


class RobustnessGate(_Strict):
    """A metric with noise or missing values injected into the numeric features."""

    perturbation: Literal["noise", "missing"] = Field(description="What is injected.")
    amount: float = Field(
        gt=0, le=1, description="noise: std as a fraction of each column's std; missing: share."
    )
    metric: str = Field(description="The metric that must hold up.")
    max_drop: float = Field(ge=0, description="How much worse it may get, in its own units.")
    columns: list[str] | None = Field(default=None, description="Default: numeric features.")
    seed: int = Field(default=0, description="Seed of the injected noise.")


class OperationalGates(_Strict):
    """Budgets a model must fit to be served."""

    latency_p95_ms: float | None = Field(default=None, gt=0, description="Single-row p95.")
    model_size_mb: float | None = Field(default=None, gt=0, description="Model files on disk.")


class GatesConfig(_Strict):
    """The gates ``conveyor check`` decides; every one must pass."""

    thresholds: list[str] = Field(
        default_factory=list, description="Absolute thresholds: 'roc_auc >= 0.95'."
    )
    champion: ChampionGates | None = Field(default=None, description="Candidate vs champion.")
    fairness: list[FairnessGate] = Field(default_factory=list, description="Group gaps.")
    robustness: list[RobustnessGate] = Field(default_factory=list, description="Perturbations.")
    operational: OperationalGates | None = Field(default=None, description="Latency and size.")

    @field_validator("thresholds")
    @classmethod
    def _thresholds_parse(cls, values: list[str]) -> list[str]:
        from conveyor.evaluation.thresholds import parse_threshold

        for value in values:
            parse_threshold(value)  # a ValueError here names the bad threshold
        return values


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float) -> float:
    """Seconds in ``"90s"``, ``"2m"``, ``"1.5h"``, ``"1d"`` or a plain number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = DURATION.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 2m, 1h")
        seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


class DeployConfig(_Strict):
    """How ``conveyor deploy`` delivers a new version; every field has a default."""

    strategy: Literal["canary", "shadow", "ab", "bluegreen"] = Field(
        default="canary", description="canary | shadow | ab | bluegreen."
    )
    steps: list[float] = Field(
        default_factory=lambda: [5.0, 25.0, 50.0, 100.0],
        description="canary: the candidate's traffic % per step, increasing, ending at 100.",
    )
    interval: str | float = Field(
        default="2m", description="canary: the shortest time a step is held before it passes."
    )
    share: float = Field(default=0.2, gt=0, le=1, description="shadow: share of requests copied.")
    duration: str | float = Field(default="1h", description="shadow and ab: how long they run.")
    split: list[float] = Field(
        default_factory=lambda: [50.0, 50.0], description="ab: stable and candidate weights."
    )
    sticky: str | None = Field(
        default=None, description="A header or field:NAME that keeps a user on one version."
    )
    inconclusive_intervals: int = Field(
        default=3, ge=1, description="Pause when a step stays inconclusive this many intervals."
    )
    pretraffic: bool = Field(default=True, description="Smoke, compatibility and load first.")
    alias: str = Field(default="champion", description="The alias a promotion moves.")
    judge: Literal["conveyor", "kayenta", "flagger"] = Field(
        default="conveyor",
        description="conveyor (sequential tests) | kayenta (Mann-Whitney per step) | "
        "flagger (fixed thresholds).",
    )

    @field_validator("interval", "duration")
    @classmethod
    def _duration(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[float]) -> list[float]:
        check_steps(steps)
        return steps

    @field_validator("split")
    @classmethod
    def _split(cls, split: list[float]) -> list[float]:
        if len(split) != 2 or min(split) < 0 or sum(split) <= 0:
            raise ValueError(
                f"split is two weights, stable then candidate, e.g. 50,50; got {split}"
            )
        return split

    @property
    def interval_s(self) -> float:
        return parse_duration(self.interval)

    @property
    def duration_s(self) -> float:
        return parse_duration(self.duration)


def check_steps(steps: list[float]) -> None:
    """Canary steps: increasing percentages in (0, 100], the last one 100."""
    if not steps or any(not 0 < s <= 100 for s in steps):
        raise ValueError(f"steps are percentages in (0, 100], e.g. 5,25,50,100; got {steps}")
    if any(b <= a for a, b in itertools.pairwise(steps)) or steps[-1] != 100:
        raise ValueError(f"steps must increase and end at 100, e.g. 5,25,50,100; got {steps}")


class ProjectConfig(_Strict):
    """The whole ``conveyor.yaml``."""

    stages: dict[StageName, StageConfig] = Field(description="The pipeline's stages by name.")
    validation: dict[StageName, ValidationConfig] = Field(
        default_factory=dict, description="Data sets validated against schemas, by name."
    )
    evaluation: EvaluationConfig | None = Field(
        default=None, description="The candidate and holdout that evaluate/check score."
    )
    gates: GatesConfig | None = Field(default=None, description="Quality gates for check.")
    deploy: DeployConfig = Field(
        default_factory=DeployConfig, description="How `conveyor deploy` delivers a version."
    )
    notify: NotifyConfig = Field(
        default_factory=lambda: NotifyConfig([]),
        description="Where rollout and alert events are sent.",
    )
    monitor: MonitorConfig = Field(
        default_factory=MonitorConfig, description="The monitor loop and its alert rules."
    )
    gitignore_outs: bool = Field(
        default=True, description="Add declared outs to a .gitignore beside each (as DVC)."
    )

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
        yamlio.compose(text, path.name)  # raises with the line and column of the problem
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
        raise ConfigError(_describe(exc, yamlio.compose(text, path.name), path)) from None
    for name, stage in config.stages.items():
        _check_paths(text, path, name, stage)
    _check_alert_targets(text, path, config)
    return config


def _describe(exc: ValidationError, node: yaml.Node | None, path: Path) -> str:
    return describe_errors(exc, node, path.name)


def describe_errors(
    exc: ValidationError,
    node: yaml.Node | None,
    source: str,
    *,
    root: type[BaseModel] | None = None,
    title: str = "invalid configuration",
) -> str:
    """Turn pydantic's errors into ``file:line:col: field.path: message`` lines.

    ``node`` is the YAML the data came from (its marks give line and column); ``root`` the
    model validated (default :class:`ProjectConfig`), for "did you mean" on unknown keys.
    Other YAML files with a pydantic schema (data schemas) use it too.
    """
    messages: dict[tuple[Any, ...], list[str]] = {}
    for error in exc.errors():
        loc = _without_union_tags(error["loc"])
        messages.setdefault(tuple(loc), []).append(_message(error, loc, root or ProjectConfig))
    lines = []
    for at, found in messages.items():
        mark_node = _node_at(node, at)
        where = source
        if mark_node is not None:
            where += f":{mark_node.start_mark.line + 1}:{mark_node.start_mark.column + 1}"
        lines.append(f"{where}: {field_path(at) or '(top level)'}: {_merged(found)}")
    return f"{title}:\n  " + "\n  ".join(lines)


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


def _message(error: Mapping[str, Any], loc: Sequence[Any], root: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1], root)
        keys = [field.alias or name for name, field in model.model_fields.items()]
        close = difflib.get_close_matches(key, keys, n=1)
        known = ", ".join(keys)
        suggestion = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {known})"
        return f"unknown key{suggestion}"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _model_at(loc: Sequence[Any], root: type[BaseModel]) -> type[BaseModel]:
    """The schema class that holds the key at ``loc`` (for "did you mean")."""
    model = root
    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue  # a list index or a name chosen by the user (a stage's, a column's)
        annotation = model.model_fields[part].annotation
        found = _inner_model(annotation)
        if found is None:
            break
        model = found
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


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
            mark_node = _node_at(yamlio.compose(text, path.name), ["stages", name, *loc])
            where = path.name
            if mark_node is not None:
                where += f":{mark_node.start_mark.line + 1}:{mark_node.start_mark.column + 1}"
            raise ConfigError(
                f"{where}: {field_path(['stages', name, *loc])}: {problem}",
                hint="write paths relative to the directory holding conveyor.yaml",
            )


def _check_alert_targets(text: str, path: Path, config: ProjectConfig) -> None:
    """Each rule's ``notify:`` names targets of ``notify:`` that receive alert events."""
    targets = {t.name: t for t in config.notify.targets if t.name is not None}
    for index, rule in enumerate(config.monitor.alerts):
        for position, name in enumerate(rule.notify or ()):
            target = targets.get(name)
            if target is not None and target.wants("alert.firing"):
                continue
            known = ", ".join(sorted(targets)) or "none (give a target 'name:')"
            why = (
                f"no notify: target is named {name!r} (named targets: {known})"
                if target is None
                else f"target {name!r} does not receive alert events (its events: "
                f"{', '.join(target.events)})"
            )
            loc: list[str | int] = ["monitor", "alerts", index, "notify", position]
            mark_node = _node_at(yamlio.compose(text, path.name), loc)
            where = path.name
            if mark_node is not None:
                where += f":{mark_node.start_mark.line + 1}:{mark_node.start_mark.column + 1}"
            raise ConfigError(
                f"{where}: {field_path(loc)}: {why}",
                hint="name the target (`name: ops-webhook` under its kind) or fix the rule",
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
