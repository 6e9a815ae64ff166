"""``conveyor diff``: params and metrics of two runs (or git revisions) side by side.

A side is named by a run id (or a unique prefix), by a git revision (its
``conveyor.lock`` says which params were used and which metric files were produced; the
metric values are read from git or, when not committed, from the artifact store), or by
``workspace``. By default the run recorded in HEAD's lock is compared with the latest run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from conveyor.dotted import flatten_params
from conveyor.errors import ConveyorError, NotFoundError
from conveyor.gitinfo import resolve_rev, show_file
from conveyor.pipeline.lock import LOCK_FILE, LockedStage, parse_lock, read_lock
from conveyor.pipeline.metrics import parse_metrics
from conveyor.project import Project
from conveyor.settings import Settings
from conveyor.store import Store
from conveyor.store.entities import Run


@dataclass(frozen=True)
class Snapshot:
    """Params and metrics of one side of a diff."""

    label: str
    params: dict[str, Any]
    metrics: dict[str, float]
    # A lock knows declared params and metric files; what a stage's script logged with the
    # SDK comes from the run that produced its outs, when the store still has that run.
    # Without it, a key this side lacks is unknown, not absent, and is not compared.
    partial: bool = False


@dataclass(frozen=True)
class DiffRow:
    """One param or metric that differs (or not, with ``--all``)."""

    kind: str  # param | metric
    key: str
    old: Any
    new: Any

    @property
    def change(self) -> float | None:
        """``new - old`` for numbers, else None."""
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (self.old, self.new)
        )
        return float(self.new) - float(self.old) if numbers else None

    @property
    def differs(self) -> bool:
        both_nan = all(isinstance(v, float) and math.isnan(v) for v in (self.old, self.new))
        return not both_nan and bool(self.old != self.new)


def snapshot_of_run(run: Run) -> Snapshot:
    """A recorded run's params and metrics."""
    return Snapshot(f"run {run.id}", dict(run.params), dict(run.metrics))


def snapshot_of_lock(
    project: Project,
    label: str,
    lock: dict[str, LockedStage],
    rev: str | None,
    store_url: str,
    store: Store,
) -> Snapshot:
    """Params and metrics described by a lock (at a git revision, or in the workspace),
    with what each stage logged with the SDK in the run that produced its outs."""
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    partial = False
    for name, entry in lock.items():
        logged = _logged(store, name, entry)
        if logged is None:
            partial = True
        else:
            params.update(logged[0])
            metrics.update(logged[1])
        params.update(flatten_params(entry.params))
        for path, record in entry.outs.items():
            if record.get("metric"):
                metrics.update(
                    parse_metrics(_metric_text(project, path, record, rev, store_url), path)
                )
    return Snapshot(label, params, metrics, partial)


def _logged(
    store: Store, stage: str, entry: LockedStage
) -> tuple[dict[str, Any], dict[str, float]] | None:
    """What ``stage``'s script logged in the run that produced the locked outs; None when
    that run is not in this store (a lock from another machine, a cleared database)."""
    cached = store.stage_cache.get(entry.key)
    if cached is None or cached.run_id is None:
        return None
    params, values = store.runs.logged_by_stage(cached.run_id, stage)
    latest: dict[str, tuple[int, float]] = {}
    for key, value, step, _at in values:  # oldest first: a later value at a step >= wins
        if key not in latest or step >= latest[key][0]:
            latest[key] = (step, value)
    return params, {key: value for key, (_step, value) in latest.items()}


def _metric_text(
    project: Project, path: str, record: dict[str, Any], rev: str | None, store_url: str
) -> str:
    if rev is None and (project.root / path).is_file():
        return (project.root / path).read_text(encoding="utf-8")
    if rev is not None:
        text = show_file(project.root, rev, path)
        if text is not None:
            return text
    from conveyor.artifacts import ArtifactStore

    try:
        return ArtifactStore(store_url).get_bytes(record["digest"]).decode()
    except NotFoundError:
        raise NotFoundError(
            f"metrics file {path} of {rev or 'the workspace'} is neither in git nor in the "
            "artifact store",
        ) from None


def resolve_side(project: Project, settings: Settings, store: Store, spec: str) -> Snapshot:
    """Turn ``spec`` (run id prefix, git revision, or ``workspace``) into a snapshot."""
    store_url = settings.artifacts_location(project.state_dir)
    if spec == "workspace":
        lock = read_lock(project.root)
        return snapshot_of_lock(project, "workspace", lock, None, store_url, store)
    run_error: ConveyorError | None = None
    try:
        return snapshot_of_run(store.runs.get(spec))
    except ConveyorError as exc:
        run_error = exc
    commit = resolve_rev(project.root, spec)
    if commit is not None:
        text = show_file(project.root, commit, LOCK_FILE)
        if text is None:
            raise NotFoundError(f"git revision {spec} has no {LOCK_FILE}")
        lock = parse_lock(text, f"{spec}:{LOCK_FILE}")
        return snapshot_of_lock(project, f"{spec} ({commit[:8]})", lock, commit, store_url, store)
    raise NotFoundError(
        f"{spec!r} is neither a run id nor a git revision",
        hint=run_error.hint if run_error else None,
    )


def default_sides(project: Project, settings: Settings, store: Store) -> tuple[Snapshot, Snapshot]:
    """HEAD's lock versus the latest run; without a committed lock, the two latest runs."""
    runs = store.runs.find(limit=2)
    if not runs:
        raise NotFoundError("no run is recorded yet", hint="run `conveyor run` first")
    latest = snapshot_of_run(runs[0])
    if resolve_rev(project.root, "HEAD") and show_file(project.root, "HEAD", LOCK_FILE):
        return resolve_side(project, settings, store, "HEAD"), latest
    if len(runs) < 2:
        raise NotFoundError(
            "there is only one run and no committed conveyor.lock to compare it with",
            hint="commit conveyor.lock, or name two runs: `conveyor diff RUN_A RUN_B`",
        )
    return snapshot_of_run(runs[1]), latest


def diff_snapshots(old: Snapshot, new: Snapshot, *, include_same: bool = False) -> list[DiffRow]:
    """Rows for every param and metric that differ (all of them with ``include_same``).

    A key that a partial side (see :class:`Snapshot`) lacks is left out: it is unknown there.
    """
    rows = []
    for kind, a, b in (("param", old.params, new.params), ("metric", old.metrics, new.metrics)):
        for key in sorted(set(a) | set(b)):
            if (old.partial and key not in a) or (new.partial and key not in b):
                continue
            row = DiffRow(kind, key, a.get(key), b.get(key))
            if include_same or row.differs:
                rows.append(row)
    return rows
