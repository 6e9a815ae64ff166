"""``conveyor run --dry-run``: what a run would do, without doing it."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.pipeline.lock import read_lock
from conveyor.pipeline.status import pipeline_status
from conveyor.project import Project
from conveyor.settings import Settings


@dataclass(frozen=True)
class PlannedStage:
    """One stage's expected fate, with the reasons it is stale."""

    stage: str
    action: str  # skip | restore | run | run-or-restore
    reasons: tuple[str, ...]


def plan_run(
    project: Project, settings: Settings, targets: tuple[str, ...], force: bool
) -> list[PlannedStage]:
    """Predict each stage's action: skip, restore from the run cache, or run."""
    lock = read_lock(project.root)
    states = pipeline_status(project, targets, lock=lock)
    stale = [s for s in states if not s.up_to_date]
    cache = None
    if stale and ((project.state_dir / "conveyor.db").exists() or settings.db_url):
        from conveyor.store import open_store

        cache = open_store(settings.database_url(project.state_dir)).stage_cache
    plan = []
    for state in states:
        stage = state.stage
        if force or stage.always_run:
            plan.append(PlannedStage(stage.name, "run", state.reasons or ("--force",)))
        elif state.up_to_date:
            plan.append(PlannedStage(stage.name, "skip", ()))
        elif any(r.startswith("upstream") for r in state.reasons) or state.key is None:
            plan.append(PlannedStage(stage.name, "run-or-restore", state.reasons))
        else:
            locked = lock.get(stage.name)
            seen = (locked is not None and locked.key == state.key) or (
                cache is not None and state.key is not None and cache.get(state.key) is not None
            )
            action = "restore" if seen and stage.cache else "run"
            plan.append(PlannedStage(stage.name, action, state.reasons))
    return plan
