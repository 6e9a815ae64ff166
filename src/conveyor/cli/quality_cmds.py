"""``conveyor evaluate``, ``check`` and ``report``: score a model, gate it, write the report."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from conveyor.config import EvaluationConfig
    from conveyor.project import Project

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ModelUri = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="The candidate: models:/NAME@ALIAS, models:/NAME/3, runs:/RUN/model."
    ),
]


class ReportFormat(enum.StrEnum):
    """What ``conveyor report`` writes."""

    md = "md"
    html = "html"


def register(app: typer.Typer) -> None:
    """Add the quality commands to ``app``."""
    app.command("evaluate")(evaluate)
    app.command("check")(check)
    app.command("report")(report)


def evaluate(
    model: ModelUri = None,
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Holdout CSV/Parquet (default: evaluation.data)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="Target column (default: evaluation.target)."),
    ] = None,
    slices: Annotated[
        list[str] | None,
        typer.Option("--slice", help="Report metrics by this column (repeatable)."),
    ] = None,
    as_json: AsJson = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the evaluation as JSON here.")
    ] = None,
) -> None:
    """Score a model on a holdout: metrics, per-slice metrics, calibration, confusion, latency.

    Example: conveyor evaluate --model models:/churn@champion --slice region
    """
    from conveyor.cli.context import command_context, print_json
    from conveyor.evaluation.check import evaluate_uri

    project, config = _project_and_config(data, target, slices)
    ctx = command_context(project_required=True)
    scored = evaluate_uri(ctx, project, config, model or config.model, say=_say(as_json))
    found = {"model": scored.ref.label, "data": config.data, **scored.evaluation.as_dict()}
    if output:
        _write_json(output, found)
    if as_json:
        print_json(found)
        return
    from conveyor.cli.quality_render import print_evaluation

    print_evaluation(scored.ref.label, config.data, scored.evaluation)


def check(
    model: ModelUri = None,
    champion: Annotated[
        str | None,
        typer.Option(
            "--champion", help="Alias of the model to beat (default: gates.champion.alias)."
        ),
    ] = None,
    promote: Annotated[
        str | None,
        typer.Option(
            "--promote", help="On pass: register the candidate and point this alias at it."
        ),
    ] = None,
    as_json: AsJson = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the result as JSON here.")
    ] = None,
) -> None:
    """Decide the gates of conveyor.yaml for the candidate; exit 1 if any fails.

    The candidate and the champion are scored on the same holdout; the evidence is stored on
    a run for `conveyor report`. Example: conveyor check --promote challenger
    """
    from conveyor.cli.context import command_context, print_json
    from conveyor.errors import GateFailed
    from conveyor.evaluation.check import run_check
    from conveyor.project import load_project

    project = load_project()
    ctx = command_context(project_required=True)
    outcome = run_check(
        ctx,
        project,
        candidate_uri=model,
        champion_alias=champion,
        promote=promote,
        run_id=ctx.settings.run_id,  # a stage of `conveyor run`: the evidence goes on its run
        stage=ctx.settings.stage,
        say=_say(as_json),
    )
    result = outcome.result
    if output:
        _write_json(output, result.as_dict())
    if as_json:
        print_json(result.as_dict())
    else:
        from conveyor.cli.quality_render import print_check

        print_check(result)
    if not result.passed:
        failed = [g.name for g in result.gates if not g.passed]
        raise GateFailed(
            f"{len(failed)} of {len(result.gates)} gates failed: {', '.join(failed)}",
            result=result,
            hint=f"the evidence is on run {result.run_id}; `conveyor report` writes it up",
        )


def report(
    run: Annotated[
        str | None, typer.Option("--run", help="The check's run id (default: the latest check).")
    ] = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="md: markdown + PNG files; html: one file."),
    ] = ReportFormat.md,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into.")] = Path(
        "report"
    ),
    image_base: Annotated[
        str | None,
        typer.Option("--image-base", help="Prefix for image links in markdown (your own host)."),
    ] = None,
    check_file: Annotated[
        Path | None,
        typer.Option(
            "--check-file", help="The JSON `conveyor check -o` wrote: report that very check."
        ),
    ] = None,
) -> None:
    """Write the pull-request report of a check: markdown with plots, or self-contained HTML.

    Nothing is uploaded anywhere. Example: conveyor report --format html -o report
    """
    from conveyor.cli.context import command_context
    from conveyor.evaluation.record import load_check
    from conveyor.reports.render import write_report

    ctx = command_context(project_required=True)  # outside a project, say so
    if check_file is not None:
        run = run or _run_of(check_file)
    outcome = load_check(ctx, run)
    kind: Literal["md", "html"] = "md" if fmt is ReportFormat.md else "html"
    written = write_report(
        outcome.result, outcome.predictions, output, fmt=kind, image_base=image_base
    )
    typer.echo(f"wrote {written}")


def _run_of(check_file: Path) -> str:
    """The run id recorded in a ``conveyor check -o`` file."""
    from conveyor.errors import DataError, NotFoundError

    try:
        data = json.loads(check_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(
            f"{check_file} does not exist", hint="write it with `conveyor check -o FILE`"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{check_file} is not a check result: {exc}") from None
    run_id = data.get("run_id") if isinstance(data, dict) else None
    if not isinstance(run_id, str):
        raise DataError(
            f"{check_file} holds no run_id", hint="give the file `conveyor check -o` wrote"
        )
    return run_id


def _project_and_config(
    data: str | None, target: str | None, slices: list[str] | None
) -> tuple[Project, EvaluationConfig]:
    from conveyor.cli.context import project_and_settings
    from conveyor.config import EvaluationConfig
    from conveyor.errors import ConfigError

    project, _ = project_and_settings()
    declared = project.config.evaluation
    updates = {
        key: value
        for key, value in (("data", data), ("target", target), ("slices", slices))
        if value
    }
    if declared is not None:
        return project, declared.model_copy(update=updates)
    if data is None or target is None:
        raise ConfigError(
            "say what to evaluate on: --data and --target, or an evaluation: block in "
            "conveyor.yaml",
            hint="e.g. conveyor evaluate --data data/test.csv --target label",
        )
    return project, EvaluationConfig(data=data, target=target, slices=slices or [])


def _say(quiet: bool) -> Callable[[str], None]:
    from rich.console import Console

    console = Console(stderr=True, highlight=False)

    def say(message: str) -> None:
        if not quiet:
            console.print(f"[dim]{message}[/]")

    return say


def _write_json(path: Path, data: object) -> None:
    from conveyor.cli.context import strict_json

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(strict_json(data), encoding="utf-8")
    temporary.replace(path)
