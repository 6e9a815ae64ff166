"""``conveyor monitor run`` and ``conveyor monitor alerts``: the alert rules of conveyor.yaml."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from conveyor.monitoring.alerts.loop import PassReport

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
STATE_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green"}


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``alerts`` to the ``monitor`` group."""
    app.command("run")(run)
    app.command("alerts")(alerts)


def run(
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="One pass, then exit: 1 if an alert is firing, else 0 (cron, CI)."
        ),
    ] = False,
    interval: Annotated[
        str | None,
        typer.Option(help="Time between passes (30s, 1m); default monitor.interval."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Evaluate the alert rules of conveyor.yaml until Ctrl-C (conveyor serve runs the same
    loop by default). One process leads at a time; others stand by and take over.

    Example: conveyor monitor run --once && echo "no alert firing"
    """
    from conveyor.cli.context import command_context, print_json

    ctx = command_context(project_required=True)
    if once:
        from conveyor.monitoring.alerts.service import run_once

        report = run_once(ctx)
        if as_json:
            print_json(_report_json(report))
        else:
            _print_pass(report)
        if report.firing:
            raise typer.Exit(1)
        return
    _run_forever(ctx, interval)


def _run_forever(ctx: Any, interval: str | None) -> None:
    import logging
    import signal
    import sys
    import threading

    from conveyor.config import parse_duration
    from conveyor.errors import ConfigError
    from conveyor.monitoring.alerts.service import build_loop

    try:
        every = parse_duration(interval) if interval is not None else None
    except ValueError as exc:
        raise ConfigError(f"--interval: {exc}") from exc
    loop, dispatcher = build_loop(ctx)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(message)s"))
    logger = logging.getLogger("conveyor")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seconds = every if every is not None else loop.config.interval_s
    sys.stderr.write(
        f"monitor loop: {len(loop.config.alerts)} rule(s) every {seconds:g} s; Ctrl-C stops\n"
    )
    try:
        loop.run(stop, seconds)
    except KeyboardInterrupt:
        stop.set()
    finally:
        logger.removeHandler(handler)
        if dispatcher is not None:
            dispatcher.close(timeout_s=10)


def alerts(
    model: Annotated[str | None, typer.Option(help="Only this model's alerts.")] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every stored alert, not only open and last 24 h.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Open alerts and those resolved in the last 24 hours, open first.

    Example: conveyor monitor alerts --model churn
    """
    from conveyor.cli.context import command_context, print_json
    from conveyor.monitoring.alerts.service import list_alerts

    found = list_alerts(command_context(), model=model, everything=show_all, limit=limit)
    if as_json:
        print_json([_alert_json(a) for a in found])
        return
    if not found:
        scope = f" of {model}" if model else ""
        typer.echo(f"No open or recent alerts{scope}.")
        return
    _table(found, "Alerts")


def _print_pass(report: PassReport) -> None:
    import sys

    if not report.leader:
        sys.stderr.write(
            "another monitor loop leads (conveyor serve or monitor run): nothing evaluated "
            "here; these are the alerts it keeps\n"
        )
    else:
        typer.echo(
            f"evaluated {report.evaluated} rule/version pair(s): {len(report.firing)} firing, "
            f"{len(report.open) - len(report.firing)} pending, {report.notified} notification(s)"
            + (f", {report.held_back} held back by the hourly cap" if report.held_back else "")
        )
    if report.open:
        _table(report.open, "Open alerts")


def _table(found: list[Any], title: str) -> None:
    """One row per alert, then each alert's summary (the evidence in one line)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    table.add_column("state", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("model", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("since (UTC)")
    table.add_column("last notified")
    now = datetime.now().astimezone()
    for a in found:
        notified = _when(a.last_notified_at, now) + (
            f" ({a.notifications} sent)" if a.notifications else ""
        )
        table.add_row(
            f"[{STATE_STYLE.get(a.state, '')}]{a.state}[/] ({a.severity})",
            escape(a.rule),
            f"{escape(a.model)} v{a.version}",
            _value(a.kind, a.value),
            _when(a.first_seen, now),
            notified,
        )
    console = Console(highlight=False)
    console.print(table)
    for a in found:
        console.print(f"{escape(a.rule)} ({a.state}): {escape(a.summary)}", soft_wrap=True)


def _value(kind: str, value: float | None) -> str:
    if value is None:
        return "-"
    if kind == "error_rate":
        return f"{value:.2%}"
    if kind == "latency":
        return f"{value * 1000:.0f} ms"
    if kind in ("drift", "no_traffic"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    ago = int((now - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if ago >= size:
            return f"{moment:%m-%d %H:%M}, {ago // size}{unit} ago"
    return f"{moment:%m-%d %H:%M}, {max(ago, 0)}s ago"


def _alert_json(a: Any) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "id": a.id,
        "fingerprint": a.fingerprint,
        "state": a.state,
        "rule": a.rule,
        "kind": a.kind,
        "model": a.model,
        "version": a.version,
        "severity": a.severity,
        "value": a.value,
        "summary": a.summary,
        "first_seen": iso(a.first_seen),
        "last_seen": iso(a.last_seen),
        "fired_at": iso(a.fired_at),
        "resolved_at": iso(a.resolved_at),
        "last_notified_at": iso(a.last_notified_at),
        "notifications": a.notifications,
        "evidence": a.evidence,
    }


def _report_json(report: PassReport) -> dict[str, Any]:
    return {
        "leader": report.leader,
        "evaluated": report.evaluated,
        "firing": len(report.firing),
        "notified": report.notified,
        "held_back": report.held_back,
        "problems": report.problems,
        "open": [_alert_json(a) for a in report.open],
    }
