"""``conveyor monitor ...``: how served models do in production."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from conveyor.monitoring.metrics import Metric
    from conveyor.monitoring.performance import PerformanceReport

app = typer.Typer(
    name="monitor",
    help="Monitoring: realized performance from delayed labels, with estimates where none came.",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Name = Annotated[str, typer.Argument(help="Registered model name.")]
WINDOW = re.compile(r"(\d+)([mhdw])")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(root: typer.Typer) -> None:
    """Add the ``monitor`` command group to ``root``."""
    root.add_typer(app)


def parse_window(text: str, option: str = "--window") -> timedelta:
    """``30m``, ``1h``, ``1d``, ``1w`` as a duration; ConfigError for anything else."""
    from conveyor.errors import ConfigError

    match = WINDOW.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(f"{option} {text!r} is not a duration", hint="use e.g. 1h, 1d or 1w")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


@app.command("performance")
def performance(
    name: Name,
    window: Annotated[str, typer.Option(help="Window length: 1h, 1d, 1w.")] = "1d",
    since: Annotated[
        str | None, typer.Option(help="Start: 3d (ago) or an ISO date; default 7 windows.")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Only this version.")] = None,
    max_delay: Annotated[
        str, typer.Option(help="Labels count if received this long after the range ends.")
    ] = "7d",
    as_json: AsJson = False,
) -> None:
    """Realized metrics per window and version from the labels sent to POST /feedback.

    Counts, the metric with its 95% interval, and where no labels came a label-free
    estimate (marked as such). Example: conveyor monitor performance churn --window 1h
    """
    from conveyor.cli.context import command_context, print_json
    from conveyor.cli.runs_cmds import parse_since
    from conveyor.monitoring.performance import performance_report

    report = performance_report(
        command_context(),
        name,
        window=parse_window(window),
        since=parse_since(since) if since else None,
        version=version,
        max_delay=parse_window(max_delay, "--max-delay"),
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)


def _print(report: PerformanceReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not report.windows:
        typer.echo(
            f"No logged predictions of {report.model} from {report.since:%Y-%m-%d %H:%M} "
            f"to {report.until:%Y-%m-%d %H:%M} UTC ({report.labels_received} labels received)."
        )
        return
    table = Table(title=f"{report.model}: realized performance ({report.task})")
    for column in ("window (UTC)", "version", "predicted", "labelled", "coverage"):
        table.add_column(column, justify="right" if column != "window (UTC)" else "left")
    table.add_column("realized [95% interval]")
    table.add_column("ESTIMATE (no labels needed)")
    for w in report.windows:
        role = "" if w.role == "primary" else " (shadow)"
        realized = "\n".join(_metric(m) for m in w.metrics) or "no labels yet"
        estimate = _metric(w.estimate) + " (est.)" if w.estimate else (w.estimate_note or "")
        table.add_row(
            f"{w.start:%Y-%m-%d %H:%M}",
            f"{w.version}{role}",
            str(w.predicted),
            str(w.labelled),
            f"{w.coverage:.0%}",
            realized,
            estimate,
        )
    console.print(table)
    if report.unmatched_labels:
        console.print(
            f"{report.unmatched_labels} of {report.labels_received} labels matched no logged "
            "prediction in the range (unknown id, earlier prediction or not logged)."
        )
    if any(w.estimate for w in report.windows):
        console.print(f"(est.): {report.assumption}.")


def _metric(metric: Metric) -> str:
    interval = "" if metric.low is None else f" [{metric.low:.3f}, {metric.high:.3f}]"
    return f"{metric.name} {metric.value:.3f}{interval} (n={metric.n})"
