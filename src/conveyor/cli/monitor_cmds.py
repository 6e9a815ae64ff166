"""``conveyor monitor ...``: how served models do in production."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.monitoring.drift import DriftReport
    from conveyor.monitoring.drift_service import LiveDrift, Settings
    from conveyor.monitoring.metrics import Metric
    from conveyor.monitoring.performance import PerformanceReport

app = typer.Typer(
    name="monitor",
    help="Monitoring: drift, realized performance from delayed labels, and alerts.",
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


@app.command("prune")
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Delete windows older than this: 30d, 8w.")
    ] = "30d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
    as_json: AsJson = False,
) -> None:
    """Delete the gateway's outcome windows and live profiles older than --older-than.

    Both grow with traffic and nothing reads them past the longest window you ask for; run
    it from cron. At least 1d. Example: conveyor monitor prune --older-than 30d --dry-run
    """
    from conveyor.cli.context import command_context, print_json
    from conveyor.monitoring.retention import prune as prune_windows

    pruned = prune_windows(
        command_context(), parse_window(older_than, "--older-than"), dry_run=dry_run
    )
    if as_json:
        print_json(pruned.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    counts = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in pruned.deleted.items())
    typer.echo(f"{verb} {counts} that started before {pruned.before:%Y-%m-%d %H:%M} UTC")


@app.command("drift")
def drift(
    model: Annotated[
        str | None,
        typer.Argument(help="Live: NAME (its champion, else latest), NAME@ALIAS or models:/ URI."),
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="Offline: the reference CSV or Parquet file.")
    ] = None,
    current: Annotated[
        Path | None, typer.Option(help="Offline: the current CSV or Parquet file.")
    ] = None,
    window: Annotated[str, typer.Option(help="Live: the last 30m, 1h, 1d, 1w of traffic.")] = "1h",
    version: Annotated[int | None, typer.Option(help="Live: this version of NAME.")] = None,
    source: Annotated[
        str,
        typer.Option(
            help="Live: auto (the gateway's live profiles if it wrote some, else the "
            "prediction log), profiles or log."
        ),
    ] = "auto",
    columns: Annotated[
        str | None, typer.Option(help="Only these columns, comma-separated.")
    ] = None,
    correction: Annotated[
        str, typer.Option(help="Multiple-testing control: bh, bonferroni or none.")
    ] = "bh",
    alpha: Annotated[float, typer.Option(help="Level of the corrected tests.")] = 0.05,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write report.md and plots here.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Drift of current data against a reference, per feature and for the dataset.

    Offline: conveyor monitor drift --reference train.parquet --current today.csv.
    Live: conveyor monitor drift churn --window 1h (the gateway's live profiles, or its
    logged inputs, against the version's reference; the predictions too). Exit code 0: no
    drift (or no data in the window); 1: drift of the inputs or the predictions, or an error.
    """
    from conveyor.errors import InvalidValue
    from conveyor.monitoring import drift_service as svc

    settings = svc.Settings(
        [c.strip() for c in columns.split(",") if c.strip()] if columns else None,
        correction,
        alpha,
    )
    offline = reference is not None or current is not None
    if offline == (model is not None) or (offline and (reference is None or current is None)):
        raise InvalidValue(
            "give either MODEL (live traffic) or both --reference and --current (files)",
            hint="conveyor monitor drift churn --window 1h, or "
            "conveyor monitor drift --reference a.parquet --current b.csv",
        )
    if reference is not None and current is not None:
        report, ref, cur = svc.file_drift(reference, current, settings)
        _drift_out(report.as_dict(), as_json, report.statement)
        if out is not None:
            _write(report, ref, cur, out, f"{current} against {reference}", as_json)
        _drift_exit(report.drifted)
        return
    assert model is not None
    _live(model, parse_window(window), version, settings, out, as_json, source)


def _live(
    model: str,
    window: timedelta,
    version: int | None,
    settings: Settings,
    out: Path | None,
    as_json: bool,
    source: str,
) -> None:
    from conveyor.cli.context import command_context, print_json
    from conveyor.monitoring.drift_service import PROFILES, live_drift

    live = live_drift(
        command_context(), model, window=window, version=version, settings=settings, source=source
    )
    rows = "profiled rows" if live.source == PROFILES else "logged rows"
    head = f"{live.model} version {live.version}: {live.rows} {rows} " + (
        f"from {live.since:%Y-%m-%d %H:%M} to {live.until:%Y-%m-%d %H:%M} UTC"
    )
    if live.report is None:
        if as_json:
            print_json(live.as_dict())
        else:
            typer.echo(live.message)
        return
    _drift_out(live.as_dict(), as_json, f"{head}\n{live.message}\n{_predictions_line(live)}")
    if out is not None:
        title = f"{live.model} version {live.version}, {head.split(': ', 1)[1]}"
        frames = live.frames()
        if frames is not None:
            _write(live.report, frames[0], frames[1], out, title, as_json)
    _drift_exit(live.drifted)


def _predictions_line(live: LiveDrift) -> str:
    found = live.predictions
    if found is None:
        return f"Predictions: not compared ({live.prediction_note})."
    return f"Predictions: {found.explanation}."


def _drift_exit(drifted: bool) -> None:
    """Exit 1 on drift so that scripts and CI can gate on it (like ``conveyor check``)."""
    if drifted:
        raise typer.Exit(1)


def _write(
    report: DriftReport,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out: Path,
    title: str,
    as_json: bool,
) -> None:
    from conveyor.reports.drift import write_drift_report

    path = write_drift_report(report, reference, current, out, title)
    if not as_json:  # stdout stays one JSON document
        typer.echo(f"Report: {path}")


def _drift_out(data: dict[str, Any], as_json: bool, heading: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from conveyor.cli.context import print_json

    if as_json:
        print_json(data)
        return
    console = Console(highlight=False)
    table = Table(title="Drift per feature")
    table.add_column("feature")
    table.add_column("test")
    for column in ("statistic", "p", "adj. p", "effect", "bar", "missing ref/cur"):
        table.add_column(column, justify="right")
    table.add_column("drift", justify="center")
    for f in data["features"]:
        missing = f"{_share(f.get('missing_share_ref'))}/{_share(f.get('missing_share_cur'))}"
        table.add_row(
            f["name"],
            f["test"],
            _num(f["statistic"]),
            _num(f["p_value"]),
            _num(f["p_adjusted"]),
            _num(f["effect"]),
            _num(f["threshold"]),
            missing,
            "[red]✓[/red]" if f["drifted"] else "✗",
        )
    console.print(table)
    console.print(
        "effect: Wasserstein in reference sd (numbers), Jensen-Shannon (categories), "
        "Cohen's h (binary); bar: the effect a drift must exceed",
        style="dim",
    )
    console.print(heading)
    console.print(f"Rule: {data['rule']}.", style="dim")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
