"""``conveyor init``, ``run``, ``status`` and ``dag``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from conveyor.cli.render import ConsoleReporter
    from conveyor.pipeline.worker import Outcome
    from conveyor.project import Project
    from conveyor.settings import Settings

STARTER = """\
# conveyor.yaml: the pipeline of this project. Reference: docs/conveyor-yaml.md
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    params: [prepare.test_size]
    outs: [data/prepared]
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/prepared]
    params: [train.C]
    outs: [models/model.skops]
  evaluate:
    cmd: python src/evaluate.py
    deps: [src/evaluate.py, data/prepared, models/model.skops]
    metrics: [metrics.json]
"""

Targets = Annotated[
    list[str] | None,
    typer.Argument(help="Stages to bring up to date, with their upstream stages (default: all)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to ``app``."""
    app.command("init")(init)
    app.command("run")(run)
    app.command("status")(status)
    app.command("dag")(dag)


def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter conveyor.yaml in the current directory."""
    from conveyor.errors import ConflictError

    path = Path("conveyor.yaml")
    if path.exists() and not force:
        raise ConflictError(f"{path.resolve()} already exists", hint="use --force to overwrite it")
    path.write_text(STARTER, encoding="utf-8")
    ignore = Path(".gitignore")
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    typer.echo(f"wrote {path}: edit its stages, then `conveyor run`")
    if ".conveyor/" not in lines:
        ignore.write_text("\n".join([*lines, ".conveyor/"]) + "\n", encoding="utf-8")
        typer.echo("added .conveyor/ (local state: database, cache, logs) to .gitignore")


def run(
    targets: Targets = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Stages run at once (default: number of cores)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Run every stage, even if up to date.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would run, and why; change nothing.")
    ] = False,
) -> None:
    """Run the pipeline: stale stages run (in parallel), others are restored or skipped."""
    from conveyor.cli.context import project_and_settings
    from conveyor.pipeline.runner import RunOptions, run_pipeline

    project, settings = project_and_settings()
    if dry_run:
        _print_plan(project, settings, tuple(targets or ()), force)
        return
    # The reporter builds its rich console only once a run really starts, so that a no-op
    # run answers without importing rich's rendering machinery.
    reporter = LazyReporter()
    options = RunOptions(tuple(targets or ()), jobs or settings.jobs, force)
    try:
        summary = run_pipeline(project, settings, options, reporter)
    finally:
        reporter.close()
    if summary.run_id is None:
        from conveyor.cli.entry import UP_TO_DATE_RUN

        typer.echo(UP_TO_DATE_RUN)
        return
    from conveyor.cli.render import summary_table

    console = reporter.console
    if not console.is_terminal:  # on a terminal the live table already shows every stage
        console.print(summary_table(summary.outcomes))
    if summary.metrics:
        from conveyor.pipeline.metrics import format_metric

        shown = ", ".join(f"{k}={format_metric(v)}" for k, v in summary.metrics.items())
        console.print(f"metrics: {shown}")
    if summary.status != "success":
        failed = [o.stage for o in summary.outcomes if o.status == "failed"]
        console.print(
            f"[bold red]run {summary.run_id} failed[/] (stage(s): {', '.join(failed)}); "
            f"logs: conveyor logs {summary.run_id} {failed[0]}"
        )
        raise typer.Exit(1)
    console.print(f"run [bold]{summary.run_id}[/] succeeded")


def _print_plan(
    project: Project, settings: Settings, targets: tuple[str, ...], force: bool
) -> None:
    from conveyor.pipeline.plan import plan_run

    words = {
        "skip": "up to date",
        "restore": "would be restored from cache",
        "run": "would run",
        "run-or-restore": "would run (or restore, if seen before)",
    }
    for item in plan_run(project, settings, targets, force):
        why = f": {'; '.join(item.reasons)}" if item.reasons else ""
        typer.echo(f"{item.stage:<20} {words[item.action]}{why}")


def status(targets: Targets = None, as_json: AsJson = False) -> None:
    """Say which stages are stale, and why (which dep, param or out changed)."""
    from conveyor.cli.context import print_json
    from conveyor.pipeline.status import pipeline_status, status_text
    from conveyor.project import load_project

    states = pipeline_status(load_project(), tuple(targets or ()))
    if as_json:
        print_json(
            [
                {"stage": s.stage.name, "up_to_date": s.up_to_date, "reasons": list(s.reasons)}
                for s in states
            ]
        )
        return
    typer.echo(status_text(states), nl=False)


def dag(
    as_json: AsJson = False,
    dot: Annotated[bool, typer.Option("--dot", help="Print Graphviz DOT.")] = False,
) -> None:
    """Print the pipeline's graph of stages."""
    from conveyor.cli.context import print_json
    from conveyor.project import load_project

    pipeline = load_project().pipeline
    if as_json:
        print_json(
            {
                "stages": list(pipeline.order),
                "edges": [[up, name] for name in pipeline.order for up in pipeline.upstream[name]],
            }
        )
    elif dot:
        typer.echo("digraph pipeline {")
        for name in pipeline.order:
            typer.echo(f'  "{name}";')
            for up in pipeline.upstream[name]:
                typer.echo(f'  "{up}" -> "{name}";')
        typer.echo("}")
    else:
        from conveyor.pipeline.graph import render_tree

        typer.echo(render_tree(pipeline))


class LazyReporter:
    """A :class:`ConsoleReporter` created on the first event (see ``conveyor run``)."""

    def __init__(self) -> None:
        self._inner: ConsoleReporter | None = None

    @property
    def console(self) -> Console:
        return self._reporter().console

    def _reporter(self) -> ConsoleReporter:
        if self._inner is None:
            from rich.console import Console

            from conveyor.cli.render import ConsoleReporter

            self._inner = ConsoleReporter(Console(highlight=False, soft_wrap=True))
        return self._inner

    def started(self, run_id: str, stages: Sequence[str]) -> None:
        self._reporter().started(run_id, stages)

    def action(self, stage: str, action: str) -> None:
        self._reporter().action(stage, action)

    def finished(self, outcome: Outcome) -> None:
        self._reporter().finished(outcome)

    def warning(self, message: str) -> None:
        self._reporter().warning(message)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
