"""``conveyor status``: which stages are stale, and why.

This path is kept light on purpose (no SQLAlchemy, no fsspec): with nothing changed it
reads conveyor.yaml, conveyor.lock and the stat cache, stats the files, and answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conveyor.hashing import Hasher, StatCache
from conveyor.pipeline.lock import LockedStage, read_lock
from conveyor.pipeline.params import ParamsReader
from conveyor.pipeline.spec import Pipeline
from conveyor.pipeline.state import StageState, inspect_stage
from conveyor.project import Project


def stat_cache_for(project: Project) -> StatCache:
    """The project's stat cache (in ``.conveyor/``, never committed)."""
    return StatCache(project.state_dir / "statcache.db")


def parsed_cache_for(project: Project) -> Path:
    """Where parsed YAML files are kept (see :func:`conveyor.yamlio.load_file`)."""
    return project.state_dir / "parsed"


def pipeline_status(
    project: Project,
    targets: Sequence[str] = (),
    *,
    hasher: Hasher | None = None,
    pipeline: Pipeline | None = None,
    lock: dict[str, LockedStage] | None = None,
) -> list[StageState]:
    """The state of ``targets`` and their upstream stages (default: every stage), in order."""
    pipeline = pipeline or project.pipeline
    lock = read_lock(project.root, parsed_cache_for(project)) if lock is None else lock
    own_hasher = hasher is None
    hasher = hasher or Hasher(project.root, stat_cache_for(project))
    params = ParamsReader(project.root, parsed_cache_for(project))
    states: dict[str, StageState] = {}
    for name in pipeline.closure(targets):
        stale_up = tuple(up for up in pipeline.upstream[name] if not states[up].up_to_date)
        states[name] = inspect_stage(
            pipeline.stages[name], lock.get(name), hasher, params, stale_up
        )
    if own_hasher and hasher.cache is not None:
        hasher.cache.flush()
    return list(states.values())


def status_text(states: list[StageState]) -> str:
    """What ``conveyor status`` prints: each stage, and why a stale one is stale."""
    if all(state.up_to_date for state in states):
        return "Everything is up to date.\n"
    lines = []
    for state in states:
        lines.append(f"{state.stage.name}: {'up to date' if state.up_to_date else 'stale'}")
        lines.extend(f"    {reason}" for reason in state.reasons)
    return "\n".join(lines) + "\n"
