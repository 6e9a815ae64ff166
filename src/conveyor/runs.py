"""The runs service: start a run's record, list, show, compare, and read its logs and artifacts.

``conveyor run``, the SDK and ``conveyor check`` start their runs with :meth:`Runs.start`
(one place builds the new-run record: who, from which commit, why); ``conveyor runs``,
``show``, ``diff`` and ``logs`` read through the same object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from conveyor.errors import NotFoundError
from conveyor.ids import new_id, utcnow
from conveyor.store.entities import Run as Run  # re-exported for the CLI
from conveyor.store.entities import RunArtifact

if TYPE_CHECKING:
    from conveyor.compare import DiffRow, Snapshot
    from conveyor.context import Context
    from conveyor.gitinfo import GitInfo
    from conveyor.project import Project


@dataclass(frozen=True)
class StageLog:
    """What a stage wrote to one stream in a run: its text, or why there is none."""

    text: str | None
    note: str | None = None  # why there is no text


class Runs:
    """Runs recorded in the context's store."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def start(
        self,
        git: GitInfo,
        *,
        kind: str = "pipeline",
        name: str | None = None,
        targets: Sequence[str] = (),
    ) -> str:
        """Record a new run (status ``running``) by the context's principal; its id."""
        from conveyor.store.entities import NewRun

        run_id = new_id()
        self.ctx.store.runs.create(
            NewRun(
                id=run_id,
                started_at=utcnow(),
                project=str(self.ctx.base),
                trigger=self.ctx.settings.trigger,
                user=self.ctx.principal.name,
                git_commit=git.commit,
                git_branch=git.branch,
                git_dirty=git.dirty,
                targets=tuple(targets),
                name=name,
                kind=kind,
            )
        )
        return run_id

    def find(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        stage: str | None = None,
        where: str = "",
        order_by: str = "",
        limit: int = 20,
    ) -> Sequence[Run]:
        """Runs matching the filters, newest first unless ``order_by`` says otherwise."""
        return self.ctx.store.runs.find(
            status=status, since=since, stage=stage, where=where, order_by=order_by, limit=limit
        )

    def get(self, run_id: str) -> Run:
        """One run, by id or a unique prefix of it."""
        return self.ctx.store.runs.get(run_id)

    def artifacts(self, run_id: str) -> list[RunArtifact]:
        """The artifacts logged on a run."""
        return self.ctx.store.models.artifacts_of(self.get(run_id).id)

    def stage_log(self, run_id: str, stage: str) -> StageLog:
        """What ``stage`` wrote (stdout and stderr, in the order written) in the run, kept in
        the artifact store; see :mod:`conveyor.pipeline.stagelog`."""
        from conveyor.pipeline.stagelog import stage_output

        run = self.get(run_id)
        record = next((s for s in run.stages if s.stage == stage), None)
        if record is None:
            names = ", ".join(s.stage for s in run.stages)
            raise NotFoundError(f"run {run.id} has no stage {stage!r}", hint=f"its stages: {names}")
        if record.status not in ("ran", "failed", "interrupted") or record.exit_code is None:
            return StageLog(
                None,
                f"stage {stage!r} did not execute in run {run.id} ({record.status}), "
                "so it wrote nothing",
            )
        written = stage_output(record, self.ctx.artifacts.get_bytes)
        if not written:
            return StageLog(None, f"(stage {stage!r} wrote nothing in run {run.id})")
        return StageLog(written.decode(errors="replace"))

    def diff(
        self, project: Project, old: str | None, new: str | None, *, include_same: bool = False
    ) -> tuple[Snapshot, Snapshot, list[DiffRow]]:
        """Params and metrics of two sides (run ids or git revisions; default: HEAD's lock
        against the latest run), and the rows that differ."""
        from conveyor.compare import default_sides, diff_snapshots, resolve_side

        settings, store = self.ctx.settings, self.ctx.store
        if old is None:
            a, b = default_sides(project, settings, store)
        else:
            a = resolve_side(project, settings, store, old)
            if new is None:
                latest = store.runs.find(limit=1)
                if not latest:
                    raise NotFoundError("no run is recorded yet", hint="run `conveyor run` first")
                b = resolve_side(project, settings, store, latest[0].id)
            else:
                b = resolve_side(project, settings, store, new)
        return a, b, diff_snapshots(a, b, include_same=include_same)
