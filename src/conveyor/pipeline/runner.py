"""``conveyor run``: execute the DAG, in parallel where the edges allow, and record the run.

1. check the DAG and that every dep exists or is written by an upstream stage;
2. if nothing is stale (and no --force), answer from the lock and the stat cache alone,
   without opening the database: nothing is recorded for a no-op;
3. take the project's run lock, record a run, and start every stage whose upstream
   stages have succeeded, up to ``jobs`` at once; each is skipped, restored or executed
   (see ``worker.py``); the lock file is rewritten after each success;
4. a failed stage skips its downstream stages while independent ones finish;
5. Ctrl-C ends every running command, records the run as interrupted, and keeps
   everything finished so far.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from conveyor.errors import Interrupted, PipelineError
from conveyor.hashing import Hasher
from conveyor.ids import utcnow
from conveyor.pipeline.children import left_behind
from conveyor.pipeline.lock import LockedStage, read_lock, write_lock
from conveyor.pipeline.spec import Pipeline, overlaps
from conveyor.pipeline.status import parsed_cache_for, pipeline_status, stat_cache_for
from conveyor.project import Project, check_outs_inside
from conveyor.settings import Settings

if TYPE_CHECKING:
    from conveyor.pipeline.worker import Outcome


class Reporter(Protocol):
    """What the runner tells whoever is watching (the CLI's live table, a log, a test)."""

    def started(self, run_id: str, stages: Sequence[str]) -> None: ...

    def action(self, stage: str, action: str) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...

    def warning(self, message: str) -> None: ...


class SilentReporter:
    """A reporter that says nothing (the SDK and tests)."""

    def started(self, run_id: str, stages: Sequence[str]) -> None:
        pass

    def action(self, stage: str, action: str) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        pass

    def warning(self, message: str) -> None:
        pass


@dataclass(frozen=True)
class RunOptions:
    """How ``conveyor run`` was asked to run."""

    targets: tuple[str, ...] = ()
    jobs: int | None = None
    force: bool = False


@dataclass(frozen=True)
class RunSummary:
    """How a run ended; ``run_id`` is None when nothing needed to run."""

    run_id: str | None
    status: str  # success | failed | up-to-date
    outcomes: tuple[Outcome, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)


def missing_inputs(project: Project, pipeline: Pipeline, names: Sequence[str]) -> list[str]:
    """Deps that neither exist nor are written by any stage, as ``stage: path`` strings."""
    outs = [out for stage in pipeline.stages.values() for out in stage.outs]
    problems = []
    for name in names:
        for dep in pipeline.stages[name].deps:
            produced = any(overlaps(dep, out) for out in outs)
            if not produced and not (project.root / dep).exists():
                problems.append(f"{name}: {dep}")
    return problems


def run_pipeline(
    project: Project,
    settings: Settings,
    options: RunOptions,
    reporter: Reporter | None = None,
) -> RunSummary:
    """Run the pipeline of ``project``; see the module docstring for what happens."""
    reporter = reporter or SilentReporter()
    pipeline = project.pipeline
    names = pipeline.closure(options.targets)
    problems = missing_inputs(project, pipeline, names)
    if problems:
        raise PipelineError(
            "deps that do not exist and that no stage writes:\n  " + "\n  ".join(problems),
            hint="create the files, fix the paths in conveyor.yaml, or add the stage that "
            "writes them",
        )
    for name in names:
        check_outs_inside(project.root, name, pipeline.stages[name].outs)
    hasher = Hasher(project.root, stat_cache_for(project))
    lock = read_lock(project.root, parsed_cache_for(project))
    # Processes a killed run left behind may still change the workspace: the answer
    # "up to date" waits until they are ended, under the run lock.
    if not options.force and not left_behind(project.state_dir):
        states = pipeline_status(
            project, options.targets, hasher=hasher, pipeline=pipeline, lock=lock
        )
        if all(state.up_to_date for state in states):
            if hasher.cache:
                hasher.cache.flush()
            return RunSummary(None, "up-to-date")
    from conveyor.pipeline.leftovers import clean_up_after_killed_runs
    from conveyor.pipeline.runlock import RunLock

    with RunLock(project.state_dir):
        clean_up_after_killed_runs(project, reporter)
        if project.config.gitignore_outs:
            _ignore_outs(project, pipeline, names, reporter)
        lock = read_lock(project.root)  # re-read under the lock
        return _Run(project, settings, options, reporter, pipeline, names, hasher, lock).go()


def _ignore_outs(
    project: Project, pipeline: Pipeline, names: tuple[str, ...], reporter: Reporter
) -> None:
    from conveyor.pipeline.gitignore import ignore_outs

    # As DVC: outs that Conveyor stores; metrics files and cache: false outs stay in git.
    stages = [pipeline.stages[name] for name in names]
    outs = [o for s in stages if s.cache for o in s.outs if o not in s.metrics]
    added = ignore_outs(project.root, outs, reporter.warning)
    if added:
        reporter.warning(
            f"added {', '.join(added)} to .gitignore (one beside each out, as DVC does); "
            "set gitignore_outs: false in conveyor.yaml to stop this"
        )


class _Run:
    """One recorded run: the scheduling loop and its bookkeeping."""

    def __init__(
        self,
        project: Project,
        settings: Settings,
        options: RunOptions,
        reporter: Reporter,
        pipeline: Pipeline,
        names: tuple[str, ...],
        hasher: Hasher,
        lock: dict[str, LockedStage],
    ) -> None:
        from conveyor.context import Context
        from conveyor.gitinfo import git_info
        from conveyor.pipeline.children import RunningStages
        from conveyor.pipeline.executors import LocalExecutor
        from conveyor.pipeline.params import ParamsReader
        from conveyor.pipeline.worker import StageWorker
        from conveyor.runs import Runs
        from conveyor.settings import stage_environment

        self.project, self.options, self.reporter = project, options, reporter
        self.pipeline, self.names, self.hasher, self.lock = pipeline, names, hasher, lock
        state_dir = project.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.ctx = Context(settings, project.root)
        self.store = self.ctx.store
        artifacts = self.ctx.artifacts
        artifacts.remove_abandoned_tmp()
        self.executor = LocalExecutor(RunningStages(state_dir))
        # The params the stages declare are recorded before anything runs, so a stage
        # script that logs one of them with another value fails, clearly, in that stage.
        reader = ParamsReader(project.root, parsed_cache_for(project))
        declared = {
            ref.label: reader.value(ref, name)
            for name in names
            for ref in pipeline.stages[name].params
        }
        git = git_info(project.root)
        for crashed in self.store.runs.close_abandoned(str(project.root), utcnow()):
            reporter.warning(f"run {crashed} had stopped without recording its end: marked crashed")
        self.run_id = Runs(self.ctx).start(git, targets=options.targets)
        if declared:
            self.store.runs.log_params(self.run_id, declared)
        base_env = stage_environment(
            self.run_id, self.ctx.db_url, self.ctx.artifacts_url, project.root
        )
        self.worker = StageWorker(
            root=project.root,
            run_id=self.run_id,
            hasher=hasher,
            params=ParamsReader(project.root),
            store=self.store,
            artifacts=artifacts,
            executor=self.executor,
            base_env=base_env,
            logs_dir=state_dir / "logs" / self.run_id,
            force=options.force,
            on_action=reporter.action,
            on_warning=reporter.warning,
        )
        self.outcomes: dict[str, Outcome] = {}
        self.running: dict[Future[Outcome], str] = {}
        jobs = options.jobs or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stage")

    def go(self) -> RunSummary:
        self.reporter.started(self.run_id, self.names)
        previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self._schedule()
            return self._finish()
        except KeyboardInterrupt:
            self._interrupt()
            raise Interrupted(
                f"run {self.run_id} was interrupted; finished stages were kept",
                hint="run `conveyor run` again to continue where it stopped",
            ) from None
        except BaseException:
            self.executor.cancel_all()
            self.store.runs.finish(self.run_id, "failed", utcnow())  # never left "running"
            raise
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            if self.hasher.cache:
                self.hasher.cache.flush()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.executor.close()
            self.ctx.close()

    def _schedule(self) -> None:
        pending = list(self.names)
        while pending or self.running:
            for name in list(pending):
                upstream = [u for u in self.pipeline.upstream[name] if u in self.names]
                if any(u in self.outcomes and not self.outcomes[u].ok for u in upstream):
                    pending.remove(name)
                    self._record(self._skipped(name, upstream))
                elif all(u in self.outcomes for u in upstream):
                    pending.remove(name)
                    stage = self.pipeline.stages[name]
                    future = self.pool.submit(self.worker.process, stage, self.lock.get(name))
                    self.running[future] = name
            if not self.running:
                continue
            done, _ = wait(self.running, return_when=FIRST_COMPLETED)
            for future in done:
                self.running.pop(future)
                self._record(future.result())

    def _skipped(self, name: str, upstream: list[str]) -> Outcome:
        from conveyor.pipeline.worker import Outcome
        from conveyor.store.entities import StageRun

        # Some upstream stages may still be running: only those already failed are named.
        failed = [u for u in upstream if u in self.outcomes and not self.outcomes[u].ok]
        record = StageRun(
            stage=name, status="skipped", message=f"upstream failed: {', '.join(failed)}"
        )
        return Outcome(name, "skipped", record)

    def _record(self, outcome: Outcome) -> None:
        self.outcomes[outcome.stage] = outcome
        self.store.runs.record_stage(self.run_id, outcome.record)
        if outcome.locked is not None and outcome.status != "unchanged":
            self.lock[outcome.stage] = outcome.locked
            write_lock(self.project.root, self.lock, self.pipeline.order)
        self.reporter.finished(outcome)

    def _interrupt(self) -> None:
        from conveyor.pipeline.worker import Outcome
        from conveyor.store.entities import StageRun

        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.executor.cancel_all()
            self.pool.shutdown(wait=True, cancel_futures=True)
            for future in list(self.running):
                if not future.cancelled():
                    self._record(future.result())
                self.running.pop(future)
            for name in self.names:
                if name not in self.outcomes:
                    self._record(
                        Outcome(name, "interrupted", StageRun(stage=name, status="interrupted"))
                    )
            self.store.runs.finish(self.run_id, "interrupted", utcnow())
        finally:
            signal.signal(signal.SIGINT, previous)

    def _finish(self) -> RunSummary:
        outcomes = tuple(self.outcomes[name] for name in self.names)
        status = "success" if all(o.ok for o in outcomes) else "failed"
        metrics: dict[str, float] = {}
        for outcome in outcomes:
            metrics.update(outcome.metrics)
        if metrics:
            self.store.runs.log_metrics(self.run_id, metrics)
        self.store.runs.finish(self.run_id, status, utcnow())
        return RunSummary(self.run_id, status, outcomes, metrics)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
