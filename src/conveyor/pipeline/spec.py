"""The pipeline as a DAG of stages, built and checked from ``conveyor.yaml``.

An edge ``a -> b`` exists when a dep of ``b`` is an out of ``a``, or lies inside a
directory that ``a`` writes (or contains one of ``a``'s outs)::

    prepare ──> train ──> evaluate
       └──────────────────────┘

Each entry NAME of the ``validation:`` block becomes the stage ``validate-NAME``: command
``conveyor validate NAME``, deps the data and the schema file, no outs. Besides the usual
edge from the stage that writes the data, every stage that reads the validated data runs
after it, so bad data stops the pipeline before training on it::

    prepare ──> validate-train ──> train
       └─────────────────────────────┘

Checks made here, before anything runs: two stages writing the same (or nested) outs,
a stage depending on its own out, and cycles (the cycle is printed).
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, CycleError, NotFoundError
from conveyor.project import DEFAULT_PARAMS_FILE, normalize_path

if TYPE_CHECKING:
    from conveyor.config import ProjectConfig, StageConfig

VALIDATION_PREFIX = "validate-"


@dataclass(frozen=True)
class ParamRef:
    """One parameter a stage reads: a dotted key in a params file."""

    file: str
    key: str

    @property
    def label(self) -> str:
        """``train.C`` for params.yaml, ``other.yaml:train.C`` for any other file."""
        return self.key if self.file == DEFAULT_PARAMS_FILE else f"{self.file}:{self.key}"


@dataclass(frozen=True)
class Stage:
    """A stage with its paths normalised; what the runner and the cache key work from."""

    name: str
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]  # includes metrics files
    metrics: tuple[str, ...]
    params: tuple[ParamRef, ...]
    env: tuple[tuple[str, str], ...]
    cache: bool = True
    always_run: bool = False
    desc: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """Stages plus the edges between them, in a valid topological order."""

    stages: dict[str, Stage]
    upstream: dict[str, tuple[str, ...]]
    order: tuple[str, ...] = field(default=())

    def downstream(self, name: str) -> tuple[str, ...]:
        """Stages that depend directly on ``name``."""
        return tuple(s for s in self.order if name in self.upstream[s])

    def closure(self, targets: Sequence[str]) -> tuple[str, ...]:
        """``targets`` and everything they depend on, in run order."""
        for target in targets:
            if target not in self.stages:
                raise NotFoundError(
                    f"no stage named {target!r} in conveyor.yaml",
                    hint=f"stages: {', '.join(self.order)}",
                )
        wanted: set[str] = set()
        todo = list(targets) if targets else list(self.order)
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(self.upstream[name])
        return tuple(s for s in self.order if s in wanted)


def build_pipeline(config: ProjectConfig) -> Pipeline:
    """Turn a validated config into a checked DAG, with a stage per validation entry."""
    stages = {name: _stage(name, cfg) for name, cfg in config.stages.items()}
    checks = _validation_stages(config, stages)
    stages.update(checks)
    _check_outs(stages.values())
    upstream = {name: _upstream_of(stage, stages) for name, stage in stages.items()}
    _readers_wait_for_checks(upstream, stages, checks)
    sorter = graphlib.TopologicalSorter(upstream)
    try:
        order = tuple(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        raise CycleError(
            "the stages depend on each other in a loop: " + " -> ".join(reversed(cycle)),
            hint="read 'a -> b' as 'a needs an out of b'; a stage cannot (even indirectly) "
            "depend on its own outs",
        ) from None
    return Pipeline(stages, upstream, order)


def _stage(name: str, cfg: StageConfig) -> Stage:
    params: list[ParamRef] = []
    for item in cfg.params:
        if isinstance(item, str):
            params.append(ParamRef(DEFAULT_PARAMS_FILE, item))
        else:
            for file, keys in item.items():
                params.extend(ParamRef(normalize_path(file), key) for key in keys)
    metrics = tuple(normalize_path(m) for m in cfg.metrics)
    outs = tuple(normalize_path(o) for o in cfg.outs)
    return Stage(
        name=name,
        cmd=cfg.command,
        deps=tuple(dict.fromkeys(normalize_path(d) for d in cfg.deps)),
        outs=tuple(dict.fromkeys(outs + metrics)),
        metrics=metrics,
        params=tuple(dict.fromkeys(params)),
        env=tuple(sorted((k, _env_value(v)) for k, v in cfg.env.items())),
        cache=cfg.cache,
        always_run=cfg.always_run,
        desc=cfg.desc,
    )


def validation_stage(entry: str) -> str:
    """The name of the stage that validates the ``validation:`` entry ``entry``."""
    return f"{VALIDATION_PREFIX}{entry}"


def _validation_stages(config: ProjectConfig, stages: dict[str, Stage]) -> dict[str, Stage]:
    made = {}
    for entry, cfg in config.validation.items():
        name = validation_stage(entry)
        if name in stages:
            raise ConfigError(
                f"stage {name!r} has the name of the stage made for the validation entry {entry!r}",
                hint="rename the stage or the validation entry",
            )
        data, schema = normalize_path(cfg.data), normalize_path(cfg.schema_file)
        made[name] = Stage(
            name=name,
            cmd=f"conveyor validate {entry}",  # entry names hold no shell metacharacters
            deps=tuple(dict.fromkeys((data, schema))),
            outs=(),
            metrics=(),
            params=(),
            env=(),
            cache=False,  # nothing to restore: it must run to say yes or no
            desc=f"Validate {data} against {schema}",
        )
    return made


def _readers_wait_for_checks(
    upstream: dict[str, tuple[str, ...]], stages: dict[str, Stage], checks: dict[str, Stage]
) -> None:
    """Stages reading validated data (but not writing it) run after its validation."""
    for check in checks.values():
        data = check.deps[0]
        for stage in stages.values():
            if stage.name in checks or any(overlaps(out, data) for out in stage.outs):
                continue
            if any(overlaps(dep, data) for dep in stage.deps):
                upstream[stage.name] = (*upstream[stage.name], check.name)


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def overlaps(a: str, b: str) -> bool:
    """Whether two normalised paths are the same or one lies inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _check_outs(stages: Iterable[Stage]) -> None:
    owners: list[tuple[str, str]] = []
    for stage in stages:
        for out in stage.outs:
            for other_out, other_stage in owners:
                if overlaps(out, other_out):
                    nested = "" if out == other_out else f" (overlaps {other_out!r})"
                    if other_stage == stage.name:
                        raise ConfigError(
                            f"stage {stage.name!r} declares {out!r} twice{nested}",
                            hint="declare each out once, in outs or metrics",
                        )
                    raise ConfigError(
                        f"stages {other_stage!r} and {stage.name!r} write {out!r}{nested}",
                        hint="every out must belong to exactly one stage",
                    )
            owners.append((out, stage.name))
        for dep in stage.deps:
            if any(overlaps(dep, out) for out in stage.outs):
                raise CycleError(
                    f"stage {stage.name!r} depends on its own out {dep!r}",
                    hint="remove it from deps, or move its producer to another stage",
                )


def _upstream_of(stage: Stage, stages: dict[str, Stage]) -> tuple[str, ...]:
    found = [
        other.name
        for other in stages.values()
        if other.name != stage.name
        and any(overlaps(dep, out) for dep in stage.deps for out in other.outs)
    ]
    return tuple(found)


def pipeline_from_dict(data: dict[str, Any]) -> Pipeline:
    """Rebuild a pipeline from ``dataclasses.asdict(pipeline)`` (read back from JSON)."""
    stages = {}
    for name, raw in data["stages"].items():
        stages[name] = Stage(
            name=raw["name"],
            cmd=raw["cmd"],
            deps=tuple(raw["deps"]),
            outs=tuple(raw["outs"]),
            metrics=tuple(raw["metrics"]),
            params=tuple(ParamRef(p["file"], p["key"]) for p in raw["params"]),
            env=tuple((k, v) for k, v in raw["env"]),
            cache=raw["cache"],
            always_run=raw["always_run"],
            desc=raw["desc"],
        )
    upstream = {name: tuple(ups) for name, ups in data["upstream"].items()}
    return Pipeline(stages, upstream, tuple(data["order"]))
