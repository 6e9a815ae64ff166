"""What happens to one stage in a run: skip it, restore it from cache, or execute it.

inputs unchanged since the lock and outs intact  -> "unchanged" (nothing to do)
key seen before (lock or run cache), objects ok  -> "cached"    (outs restored, verified)
otherwise                                        -> "ran"       (command executed, outs
                                                                 hashed, stored, cached)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConveyorError, CorruptObject
from conveyor.hashing import Hasher, hash_file
from conveyor.ids import new_id, utcnow
from conveyor.pipeline.executors import Executor, Job
from conveyor.pipeline.lock import LockedStage
from conveyor.pipeline.metrics import read_metrics
from conveyor.pipeline.outputs import outs_available, remove_path, restore_outs, save_outs
from conveyor.pipeline.params import ParamsReader
from conveyor.pipeline.spec import Stage
from conveyor.pipeline.stagelog import UNBUFFERED
from conveyor.pipeline.state import StageState, described, inspect_stage
from conveyor.store.entities import CacheEntry, StageRun

if TYPE_CHECKING:
    from conveyor.artifacts import ArtifactStore
    from conveyor.store import Store

STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class Outcome:
    """The result of one stage in one run."""

    stage: str
    status: str  # ran | cached | unchanged | failed | skipped | interrupted
    record: StageRun
    locked: LockedStage | None = None  # the new lock entry, when the stage succeeded
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    stderr_tail: str = ""  # the last lines of a failed stage's output (both streams)

    @property
    def ok(self) -> bool:
        return self.status in {"ran", "cached", "unchanged"}


@dataclass
class StageWorker:
    """Carries out one stage; safe to use from several threads for different stages."""

    root: Path
    run_id: str
    hasher: Hasher
    params: ParamsReader
    store: Store
    artifacts: ArtifactStore
    executor: Executor
    base_env: dict[str, str]
    logs_dir: Path
    force: bool = False
    on_action: Callable[[str, str], None] = lambda stage, action: None
    on_warning: Callable[[str], None] = lambda message: None

    def process(self, stage: Stage, locked: LockedStage | None) -> Outcome:
        started = utcnow()
        try:
            return self._process(stage, locked, started)
        except ConveyorError as exc:
            return self._failed(stage, started, str(exc))
        except OSError as exc:  # a file vanished or became unreadable under our feet
            return self._failed(stage, started, f"{exc.strerror or exc}: {exc.filename}")

    def _process(self, stage: Stage, locked: LockedStage | None, started: datetime) -> Outcome:
        self.on_action(stage.name, "checking")
        state = inspect_stage(stage, locked, self.hasher, self.params)
        if state.missing_deps:
            missing = ", ".join(state.missing_deps)
            return self._failed(stage, started, f"deps do not exist: {missing}", state)
        assert state.key is not None
        if not self.force and not stage.always_run:
            if locked and locked.key == state.key and state.outs_match_lock:
                record = self._record(stage, "unchanged", state, locked.outs, started)
                self._carry_models(stage, state.key)
                return self._succeeded(stage, state, record)
            restored = self._try_restore(stage, state, locked)
            if restored is not None:
                record = self._record(stage, "cached", state, restored, started)
                self._carry_models(stage, state.key)
                return self._succeeded(stage, state, record)
        return self._execute(stage, state, started)

    def _carry_models(self, stage: Stage, key: str) -> None:
        """Models, params and metrics the stage logged when it produced these outs belong to
        this run too.

        A stage that is skipped or restored does not execute, so its script logs nothing;
        without this, `runs:/<this run>/model` would not exist although its file does, and
        a cached run would lack the metrics that a run which executed the stage has.
        """
        entry = self.store.stage_cache.get(key)
        if entry is None or entry.run_id is None or entry.run_id == self.run_id:
            return
        params, metrics = self.store.runs.logged_by_stage(entry.run_id, stage.name)
        self.store.runs.log_params(self.run_id, params, stage.name)
        self.store.runs.log_metric_batch(self.run_id, metrics, stage.name)
        for model in self.store.models.models_of(entry.run_id):
            if model.stage == stage.name:
                info = {**model.info, "logged_by_run": entry.run_id}
                self.store.models.add_model(
                    replace(model, id=new_id(), run_id=self.run_id, info=info, created_at=utcnow())
                )

    def _try_restore(
        self, stage: Stage, state: StageState, locked: LockedStage | None
    ) -> dict[str, Any] | None:
        if not stage.cache:
            return None
        outs: dict[str, Any] | None = None
        if locked and locked.key == state.key:
            outs = locked.outs
        else:
            entry = self.store.stage_cache.get(state.key or "")
            outs = entry.outs if entry else None
        if not outs or set(outs) != set(stage.outs):
            return None
        try:
            if not outs_available(self.artifacts, outs):
                return None
            self.on_action(stage.name, "restoring")
            restore_outs(self.artifacts, self.root, outs)
        except CorruptObject as exc:
            self.on_warning(f"stage {stage.name!r}: {exc.message}; running the stage instead")
            self.artifacts.discard(exc.digest)
            return None
        return dict(outs)

    def _execute(self, stage: Stage, state: StageState, started: datetime) -> Outcome:
        for out in stage.outs:
            remove_path(self.root / out)
        self.on_action(stage.name, "running")
        job = Job(
            stage=stage.name,
            cmd=stage.cmd,
            cwd=self.root,
            env={**UNBUFFERED, **self.base_env, **dict(stage.env), "CONVEYOR_STAGE": stage.name},
            log_path=self.logs_dir / f"{stage.name}.log",
        )
        result = self.executor.run(job)
        tail = _tail(job.log_path)
        record = StageRun(
            stage=stage.name,
            status="ran",
            key=state.key,
            started_at=started,
            duration_s=round(result.duration_s, 3),
            exit_code=result.exit_code,
            log_digest=self._store_log(job.log_path),
            deps=state.deps,
        )
        if result.cancelled:
            return Outcome(stage.name, "interrupted", replace(record, status="interrupted"))
        missing = [out for out in stage.outs if not (self.root / out).exists()]
        if result.exit_code != 0 or missing:
            if result.exit_code < 0:
                message = f"command was killed by signal {-result.exit_code}"
            elif result.exit_code > 0:
                message = f"command exited with code {result.exit_code}"
            else:
                message = "finished but did not write declared outs: " + ", ".join(missing)
            failed = replace(record, status="failed", message=message)
            return Outcome(stage.name, "failed", failed, stderr_tail=tail)
        outs = {out: described(self.hasher.hash_path(out)) for out in stage.outs}
        for metric in stage.metrics:
            outs[metric]["metric"] = True
        if stage.cache:
            self.on_action(stage.name, "storing")
            save_outs(self.artifacts, self.hasher, outs)
            entry = CacheEntry(state.key or "", stage.name, outs, self.run_id, utcnow())
            self.store.stage_cache.put(entry)
        return self._succeeded(stage, state, replace(record, outs=outs))

    def _store_log(self, path: Path) -> str | None:
        if not path.exists() or path.stat().st_size == 0:
            return None
        digest = hash_file(path)
        self.artifacts.put_file(path, digest)
        return digest

    def _record(
        self, stage: Stage, status: str, state: StageState, outs: dict[str, Any], started: datetime
    ) -> StageRun:
        """The record of a stage that was not executed (unchanged or restored)."""
        return StageRun(
            stage=stage.name,
            status=status,
            key=state.key,
            started_at=started,
            duration_s=round((utcnow() - started).total_seconds(), 3),
            deps=state.deps,
            outs=outs,
        )

    def _succeeded(self, stage: Stage, state: StageState, record: StageRun) -> Outcome:
        locked = LockedStage(
            cmd=stage.cmd,
            key=state.key or "",
            deps=state.deps,
            params=state.params,
            env=dict(stage.env),
            outs=record.outs,
        )
        metrics = read_metrics(self.root, stage.metrics) if stage.metrics else {}
        return Outcome(stage.name, record.status, record, locked, metrics, state.params)

    def _failed(
        self, stage: Stage, started: datetime, message: str, state: StageState | None = None
    ) -> Outcome:
        record = StageRun(
            stage=stage.name,
            status="failed",
            started_at=started,
            message=message,
            key=state.key if state else None,
            deps=state.deps if state else {},
        )
        return Outcome(stage.name, "failed", record)


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
