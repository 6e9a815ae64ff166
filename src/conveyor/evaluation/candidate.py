"""Which model a check scores when none is named: the one ``conveyor.lock`` says was built.

The lock file records each stage's key; the run cache maps a key to the run that produced
those outs, and that run holds the models the stage logged. Following them finds the model
of *this* work tree, whatever else was logged since (another branch's pipeline in a shared
store, a notebook's run), and even when ``conveyor run`` had nothing to do and recorded no
run. Without a lock (or a cache entry) it falls back to ``runs:/latest/model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from conveyor.project import Project
    from conveyor.store import Store
    from conveyor.store.entities import LoggedModel

FALLBACK = "runs:/latest/model"


def default_candidate(project: Project, store: Store) -> str:
    """``runs:/RUN/MODEL`` of the model the locked pipeline logged, else the fallback."""
    found = locked_models(project, store)
    if len(found) > 1:
        listed = ", ".join(f"runs:/{m.run_id}/{m.name} (stage {m.stage})" for m in found)
        raise ConfigError(
            f"the pipeline in conveyor.lock logged {len(found)} models: {listed}",
            hint="say which to check: evaluation.model in conveyor.yaml, or --model",
        )
    if found:
        return f"runs:/{found[0].run_id}/{found[0].name}"
    return FALLBACK


def locked_models(project: Project, store: Store) -> list[LoggedModel]:
    """The models logged by the runs that produced each locked stage's outs."""
    from conveyor.pipeline.lock import read_lock

    found: list[LoggedModel] = []
    for name, locked in read_lock(project.root).items():
        entry = store.stage_cache.get(locked.key)
        if entry is None or entry.run_id is None:
            continue
        found += [m for m in store.models.models_of(entry.run_id) if m.stage == name]
    return found
