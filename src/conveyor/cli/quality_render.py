"""Terminal output of ``conveyor evaluate`` and ``conveyor check``: tables a person scans."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from conveyor.evaluation.results import CheckResult, Evaluation

ICONS = {"passed": "[green]✔[/]", "failed": "[bold red]✘[/]", "skipped": "[dim]–[/]"}


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def number(value: float | None) -> str:
    """Four significant digits; NaN and missing values as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}"


def print_evaluation(label: str, data: str, evaluation: Evaluation) -> None:
    """Metrics, then slices, confusion matrix, calibration, latency and size."""
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{label}[/] on {data}: {evaluation.n_rows} rows, {evaluation.task}")
    table = Table("metric", "value", box=None, pad_edge=False)
    for name, value in evaluation.metrics.items():
        table.add_row(name, number(value))
    console.print(table)
    if evaluation.slices:
        slices = Table("slice", "rows", *_slice_metric_names(evaluation), box=None)
        for item in evaluation.slices:
            names = _slice_metric_names(evaluation)
            slices.add_row(
                f"{item.column} = {item.value}",
                str(item.n),
                *(number(item.metrics.get(n)) for n in names),
            )
        console.print("\n[bold]By slice[/]")
        console.print(slices)
    if evaluation.confusion:
        _print_confusion(console, evaluation)
    if evaluation.calibration:
        calibration = evaluation.calibration
        console.print(
            f"\ncalibration: expected calibration error {number(calibration.ece)}, "
            f"Brier score {number(calibration.brier)} ({len(calibration.bins)} bins)"
        )
    if evaluation.latency:
        latency = evaluation.latency
        console.print(
            f"single-row latency: p50 {latency.p50_ms:.3g} ms, p95 {latency.p95_ms:.3g} ms, "
            f"p99 {latency.p99_ms:.3g} ms over {latency.calls} calls"
        )
    if evaluation.model_size_bytes is not None:
        console.print(f"model size: {evaluation.model_size_bytes / 1000:.1f} kB")


def _slice_metric_names(evaluation: Evaluation) -> list[str]:
    wanted = ("roc_auc", "accuracy", "f1", "rmse", "mae", "r2")
    present = {name for s in evaluation.slices for name in s.metrics}
    return [name for name in wanted if name in present][:3]


def _print_confusion(console: Console, evaluation: Evaluation) -> None:
    from rich.table import Table

    assert evaluation.confusion is not None
    labels = evaluation.confusion.labels
    table = Table("true \\ predicted", *labels, box=None)
    for label, row in zip(labels, evaluation.confusion.matrix, strict=True):
        table.add_row(label, *(str(count) for count in row))
    console.print("\n[bold]Confusion matrix[/]")
    console.print(table)


def print_check(result: CheckResult) -> None:
    """The comparison, every gate with its evidence, and the verdict."""
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    champion = result.champion.label if result.champion else "(not compared)"
    console.print(
        f"candidate [bold]{result.candidate.label}[/] vs {result.champion_alias} "
        f"[bold]{champion}[/] on {result.holdout} ({result.candidate_eval.n_rows} rows)"
    )
    if result.champion_note:
        what = "cannot compare" if "cannot score" in result.champion_note else "comparison skipped"
        console.print(f"[yellow]{what}:[/] {escape(result.champion_note)}")
    for summary in result.validation:
        state = "[green]valid[/]" if summary.passed else f"[red]{summary.failed_checks} failed[/]"
        console.print(f"validation {summary.name} ({summary.data}, {summary.rows} rows): {state}")
    table = Table("", "gate", "decision", box=None, pad_edge=False, show_header=False)
    for gate in result.gates:
        detail = escape(gate.detail)
        if gate.test and gate.test not in gate.detail:
            detail += f" [dim]({escape(gate.test)})[/]"
        table.add_row(ICONS[gate.status], f"[bold]{escape(gate.name)}[/]", detail)
    console.print(table)
    counts = {status: sum(g.status == status for g in result.gates) for status in ICONS}
    tally = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    verdict = "[bold green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict}: {tally} (evidence on run {result.run_id})")
    if result.promoted:
        p = result.promoted
        console.print(f"promoted {p['name']}/{p['version']} to @{p['alias']}")
    if result.recorded:
        r = result.recorded
        console.print(
            f"recorded as {r['name']}/{r['version']} ({r['status']}) in the registry: "
            f"conveyor models show {r['name']}/{r['version']}"
        )
