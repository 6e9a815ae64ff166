"""``conveyor runs``, ``show``, ``diff`` and ``logs``: what was recorded."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.table import Table

    from conveyor.compare import DiffRow
    from conveyor.runs import Run, Runs

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(app: typer.Typer) -> None:
    """Add the run-inspection commands to ``app``."""
    app.command("runs")(runs)
    app.command("show")(show)
    app.command("diff")(diff)
    app.command("logs")(logs)


def _runs() -> Runs:
    from conveyor.cli.context import command_context
    from conveyor.runs import Runs

    return Runs(command_context(project_required=True))


def parse_since(text: str) -> datetime:
    """``2h``, ``3d``, ``30m``, ``1w`` ago, or an ISO date/time (UTC when no zone is given)."""
    from conveyor.errors import ConfigError
    from conveyor.ids import utcnow

    match = RELATIVE.match(text.strip())
    if match:
        return utcnow() - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is neither a duration nor a date",
            hint="use e.g. 2h, 3d, 1w, 2026-11-01 or 2026-11-01T09:30",
        ) from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def run_as_dict(run: Run) -> dict[str, Any]:
    """A run for ``--json``."""
    return {
        "id": run.id,
        "name": run.name,
        "kind": run.kind,
        "tags": run.tags,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "duration_s": run.duration_s,
        "user": run.user,
        "trigger": run.trigger,
        "git": {"commit": run.git_commit, "branch": run.git_branch, "dirty": run.git_dirty},
        "targets": list(run.targets),
        "params": run.params,
        "metrics": run.metrics,
        "stages": [
            {
                "stage": s.stage,
                "status": s.status,
                "key": s.key,
                "duration_s": s.duration_s,
                "exit_code": s.exit_code,
                "message": s.message,
                "deps": s.deps,
                "outs": s.outs,
                "stdout_digest": s.stdout_digest,
                "stderr_digest": s.stderr_digest,
                "log_digest": s.log_digest,
            }
            for s in run.stages
        ],
    }


def runs(
    status: Annotated[
        str | None, typer.Option(help="Only runs with this status (success, failed, ...).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only runs started since: 2h, 3d, a date.")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="Only runs that included this stage.")] = None,
    where: Annotated[
        str,
        typer.Option(
            "--where",
            help="Filter, e.g. \"metrics.auc > 0.9 and params.C = '1.0' and tags.team = 'risk'\".",
        ),
    ] = "",
    order_by: Annotated[
        str, typer.Option("--order-by", help="e.g. 'metrics.auc DESC' (default: newest first).")
    ] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 20,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            metavar="NAMES",
            help="Show only these metrics, comma-separated (default: all; those the "
            "filter and order name come first).",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List recorded runs, newest first; filter and sort by metrics, params, tags."""
    from conveyor.cli.context import print_json

    found = _runs().find(
        status=status,
        since=parse_since(since) if since else None,
        stage=stage,
        where=where,
        order_by=order_by,
        limit=limit,
    )
    if as_json:
        print_json([run_as_dict(run) for run in found])
        return
    if not found:
        typer.echo("No runs match." if (status or since or stage or where) else "No runs yet.")
        return
    asked = [name.strip() for name in metrics.split(",") if name.strip()] if metrics else None
    _print_runs(found, asked or None, _named_metrics(where, order_by))


def _named_metrics(where: str, order_by: str) -> list[str]:
    """The metrics a filter and order-by name, in order: what the user is looking at."""
    from conveyor.search import RUN_ATTRIBUTES, parse_filter, parse_order_by

    named = [c.key for c in parse_filter(where, RUN_ATTRIBUTES) if c.kind == "metric"]
    if order_by.strip():
        order = parse_order_by(order_by, RUN_ATTRIBUTES)
        named += [order.key] if order.kind == "metric" else []
    return list(dict.fromkeys(named))


def _print_runs(found: Sequence[Run], asked: list[str] | None, named: list[str]) -> None:
    """The runs as a table that fits the terminal, metrics included.

    Metrics are never dropped for want of room: the last column holds them (wrapping
    between metrics) where it can be at least :data:`METRICS_ROOM` wide; on a narrower
    terminal each run becomes a short record whose metrics line wraps. ``asked``
    (``--metrics``) picks the metrics shown; otherwise every metric is, those ``named``
    by the filter or order-by first.
    """
    from rich.console import Console

    console = Console(highlight=False)
    rows = [(_run_cells(run), _metrics_text(run, asked, named)) for run in found]
    if console.width - console.measure(_table(rows, metrics=False)).maximum < METRICS_ROOM:
        _print_records(rows, console.width)
    else:
        console.print(_table(rows, metrics=True))


METRICS_ROOM = 28
"""The narrowest metrics column worth a table; below it, runs are printed as records."""


def _table(rows: list[tuple[list[str], str]], *, metrics: bool) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("run", "status", "started", "took", "commit", "stages"):
        table.add_column(column, no_wrap=True)
    if metrics:
        table.add_column("metrics", overflow="fold")
    for cells, text in rows:
        table.add_row(*cells, *([text] if metrics else []))
    return table


def _run_cells(run: Run) -> list[str]:
    counts: dict[str, int] = {}
    for s in run.stages:
        counts[s.status] = counts.get(s.status, 0) + 1
    return [
        run.id,
        run.status,
        run.started_at.strftime("%m-%d %H:%M"),
        f"{run.duration_s:.1f}s" if run.duration_s is not None else "",
        (run.git_commit or "")[:8] + ("*" if run.git_dirty else ""),
        " ".join(f"{n} {k}" for k, n in counts.items()) or _what_ran(run),
    ]


def _metrics_text(run: Run, asked: list[str] | None, named: list[str]) -> str:
    from conveyor.pipeline.metrics import format_metric

    if asked is not None:
        keys = [key for key in asked if key in run.metrics]
    else:
        first = [key for key in named if key in run.metrics]
        keys = first + [key for key in run.metrics if key not in first]
    return ", ".join(f"{key}={format_metric(run.metrics[key])}" for key in keys)


def _print_records(rows: list[tuple[list[str], str]], width: int) -> None:
    """A narrow terminal: each run on a line, its metrics wrapped on the next lines."""
    import textwrap

    widths = [max(len(cells[i]) for cells, _ in rows) for i in range(len(rows[0][0]))]
    for cells, metrics in rows:
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()]
        if metrics:
            lines.append("  metrics: " + metrics)
        for line in lines:
            for part in textwrap.wrap(line, width, subsequent_indent="    ") or [""]:
                typer.echo(part)


def _what_ran(run: Run) -> str:
    """A run without stages: a check (and its verdict) or a script."""
    if run.kind == "check":
        verdict = run.tags.get("check")
        return f"check {verdict}" if verdict else "check"
    return f"{run.kind} run"


def show(
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of it.")],
    as_json: AsJson = False,
) -> None:
    """Show one run: git commit, who, trigger, params, metrics, each stage."""
    from conveyor.cli.context import print_json

    run = _runs().get(run_id)
    if as_json:
        print_json(run_as_dict(run))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from conveyor.pipeline.metrics import format_metric

    console = Console(highlight=False)
    commit = (run.git_commit or "not in git")[:12] + (" (dirty)" if run.git_dirty else "")
    took = f"{run.duration_s:.2f}s" if run.duration_s is not None else "still running"
    title = f"  {run.name}" if run.name else ""
    console.print(f"[bold]run {run.id}[/]{escape(title)}  {run.status}", markup=True)
    what = (", ".join(run.targets) or "all stages") if run.kind == "pipeline" else _what_ran(run)
    for label, value in (
        ("started", run.started_at.strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("took", took),
        ("commit", commit),
        ("branch", run.git_branch or "-"),
        ("user", run.user or "-"),
        ("trigger", run.trigger),
        ("ran", what),
    ):
        console.print(f"  {label:<8} {value}", markup=False)
    for key, tag in sorted(run.tags.items()):
        console.print(f"  tag      {key} = {tag}", markup=False)
    if run.params:
        console.print("params", markup=False)
        for key, value in sorted(run.params.items()):
            console.print(f"  {key} = {value!r}", markup=False)
    if run.metrics:
        console.print("metrics", markup=False)
        for key, metric in sorted(run.metrics.items()):
            console.print(f"  {key} = {format_metric(metric)}", markup=False)
    table = Table(box=None, pad_edge=False, title=None)
    for column in ("stage", "result", "time", "exit", "outs", "note"):
        table.add_column(column)
    for s in run.stages:
        outs = ", ".join(f"{path}@{rec['digest'][:8]}" for path, rec in s.outs.items())
        table.add_row(
            s.stage,
            s.status,
            f"{s.duration_s:.2f}s" if s.duration_s is not None else "",
            "" if s.exit_code is None else str(s.exit_code),
            outs,
            s.message or "",
        )
    console.print(table)


def diff(
    old: Annotated[
        str | None, typer.Argument(help="Run id or git revision [default: HEAD].")
    ] = None,
    new: Annotated[
        str | None, typer.Argument(help="Run id or git revision [default: latest run].")
    ] = None,
    md: Annotated[bool, typer.Option("--md", help="A markdown table for a pull request.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Also list what did not change.")] = False,
    as_json: AsJson = False,
) -> None:
    """Compare params and metrics of two runs (default: HEAD's lock vs the latest run)."""
    from conveyor.cli.context import print_json
    from conveyor.project import load_project

    runs = _runs()
    a, b, rows = runs.diff(load_project(), old, new, include_same=show_all)
    if as_json:
        print_json(
            {
                "old": a.label,
                "new": b.label,
                "rows": [
                    {"kind": r.kind, "key": r.key, "old": r.old, "new": r.new, "change": r.change}
                    for r in rows
                ],
            }
        )
    elif md:
        typer.echo(markdown_diff(a.label, b.label, rows))
    elif not rows:
        typer.echo(f"No params or metrics differ between {a.label} and {b.label}.")
    else:
        typer.echo(f"{a.label}  ->  {b.label}")
        for row in rows:
            typer.echo(
                f"  {row.kind:<6} {row.key:<28} {_cell(row.old):>12} -> "
                f"{_cell(row.new):<12} {_delta(row)}"
            )


def _cell(value: Any) -> str:
    from conveyor.pipeline.metrics import format_metric

    if value is None:
        return "-"
    if isinstance(value, float):
        return format_metric(value)
    return str(value)


def _delta(row: DiffRow) -> str:
    change = row.change
    if change is None:
        return ""
    return f"{change:+.4g}"


def markdown_diff(old: str, new: str, rows: list[DiffRow]) -> str:
    """The diff as a GitHub-flavoured markdown table."""
    if not rows:
        return f"No params or metrics differ between `{old}` and `{new}`."
    lines = [f"| | | `{old}` | `{new}` | change |", "|---|---|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row.kind} | `{row.key}` | {_cell(row.old)} | {_cell(row.new)} | {_delta(row)} |"
        )
    return "\n".join(lines)


def logs(
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of it.")],
    stage: Annotated[str, typer.Argument(help="Stage name.")],
) -> None:
    """Print what a stage's command wrote in a run: stdout and stderr, in the order written.

    Kept in the artifact store.
    """
    import sys

    found = _runs().stage_log(run_id, stage)
    if found.text is None:
        typer.echo(found.note, err=True)
        return
    sys.stdout.write(found.text)
