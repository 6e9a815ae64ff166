"""What a report says, as plain rows of text that the Markdown and HTML templates lay out.

:func:`build_view` turns a :class:`~conveyor.evaluation.results.CheckResult` into a
:class:`ReportView`: every number already formatted, nothing escaped (each template escapes
for its own language), nothing left out (each template decides how much to show).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor.evaluation.results import (
    CheckResult,
    Evaluation,
    GateResult,
    SliceMetrics,
    ValidationSummary,
)
from conveyor.reports import formatting as f
from conveyor.reports.evidence import evidence_line

ICONS = {"passed": "✅", "failed": "❌", "skipped": "⏭"}


@dataclass(frozen=True)
class PlotRef:
    """A plot as the report links it: its file name and its title."""

    file: str
    title: str


@dataclass(frozen=True)
class MetricRow:
    """One metric of the candidate, the champion, their difference and its interval."""

    name: str
    candidate: str
    champion: str
    delta: str
    interval: str


@dataclass(frozen=True)
class GateRow:
    """One gate's decision with the numbers it rests on."""

    icon: str
    status: str
    name: str
    kind: str
    value: str
    threshold: str
    test: str
    n: str
    interval: str
    p_value: str
    detail: str
    evidence: str


@dataclass(frozen=True)
class ValidationRow:
    """One validated data set: its size, outcome and failing checks (as sentences)."""

    icon: str
    name: str
    data: str
    schema: str
    rows: str
    failed_checks: str
    failures: list[str]


@dataclass(frozen=True)
class SliceTable:
    """The slices of one column: a header and one row of cells per value."""

    column: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class ReportView:
    """Everything a report shows, formatted; the templates only lay it out."""

    passed: bool
    icon: str
    summary: str  # "5 of 6 gates passed, 1 skipped"
    candidate: str
    champion: str | None
    champion_alias: str | None
    champion_note: str | None  # why the comparison was skipped (None when it ran)
    task: str
    target: str
    holdout: str
    n_rows: str
    facts: list[tuple[str, str]]  # run, commit, holdout digest, date, promotion
    metrics: list[MetricRow]
    gates: list[GateRow]
    validation: list[ValidationRow]
    slices: list[SliceTable]
    lineage: list[str]
    plots: list[PlotRef]


def build_view(check: CheckResult, plots: list[PlotRef]) -> ReportView:
    """The report of ``check``, with ``plots`` (already drawn) linked at the end."""
    champion = check.champion_eval if check.champion is not None else None
    return ReportView(
        passed=check.passed,
        icon="✅" if check.passed else "❌",
        summary=gate_summary(check.gates),
        candidate=f.clip(check.candidate.label),
        champion=f.clip(check.champion.label) if check.champion else None,
        champion_alias=f.clip(check.champion_alias) if check.champion_alias else None,
        champion_note=_skip_reason(check),
        task=check.candidate_eval.task,
        target=f.clip(check.target),
        holdout=f.clip(check.holdout),
        n_rows=f.count(check.candidate_eval.n_rows),
        facts=_facts(check),
        metrics=metric_rows(check.candidate_eval, champion, check.gates),
        gates=[gate_row(gate) for gate in check.gates],
        validation=[validation_row(summary) for summary in check.validation],
        slices=slice_tables(check.candidate_eval, champion),
        lineage=[line.rstrip() for line in check.lineage],
        plots=plots,
    )


def gate_summary(gates: list[GateResult]) -> str:
    """``"5 of 6 gates passed, 1 skipped"`` (failed and skipped are named when present)."""
    if not gates:
        return "no gates were configured"
    counts = {status: sum(g.status == status for g in gates) for status in ICONS}
    text = f"{counts['passed']} of {len(gates)} gate{'s' if len(gates) != 1 else ''} passed"
    extra = [f"{counts[s]} {s}" for s in ("failed", "skipped") if counts[s]]
    return ", ".join([text, *extra])


def _skip_reason(check: CheckResult) -> str | None:
    if check.champion is not None and check.champion_eval is not None:
        return None
    return f.clip(check.champion_note or "no champion was given", 500)


def _facts(check: CheckResult) -> list[tuple[str, str]]:
    facts = [
        ("run", check.run_id),
        ("commit", check.git_commit[:12] if check.git_commit else None),
        ("holdout digest", check.holdout_digest[:24] if check.holdout_digest else None),
        ("checked at", check.created_at),
        ("promoted", _promotion(check.promoted)),
        ("recorded", _recorded(check.recorded)),
    ]
    return [(key, f.clip(value)) for key, value in facts if value]


def _promotion(promoted: dict[str, Any] | None) -> str | None:
    if not promoted:
        return None
    version = f"{promoted.get('name', '?')}/{promoted.get('version', '?')}"
    alias = promoted.get("alias")
    return f"{version} as @{alias}" if alias else version


def _recorded(recorded: dict[str, Any] | None) -> str | None:
    if not recorded:
        return None
    return f"{recorded.get('name', '?')}/{recorded.get('version', '?')} ({recorded.get('status')})"


def metric_rows(
    candidate: Evaluation, champion: Evaluation | None, gates: list[GateResult]
) -> list[MetricRow]:
    """The metrics of both models (candidate's order first), then latency and size."""
    other = champion.metrics if champion else {}
    names = list(candidate.metrics) + [m for m in other if m not in candidate.metrics]
    intervals = {
        g.metric: f.interval(difference_interval(g), with_sign=True)
        for g in gates
        if g.kind == "comparison" and g.interval is not None
    }
    rows = [
        _metric_row(name, candidate.metrics.get(name), other.get(name), intervals.get(name))
        for name in names
    ]
    return rows + _operational_rows(candidate, champion)


def difference_interval(gate: GateResult) -> tuple[float, float] | None:
    """The interval of candidate − champion (a gate on a lower-is-better metric states it
    as an improvement, champion − candidate; the evidence says so with higher_is_better).
    """
    if gate.interval is None:
        return None
    low, high = gate.interval
    if gate.evidence.get("higher_is_better") is False:
        return -high, -low
    return low, high


def _metric_row(name: str, mine: Any, theirs: Any, interval: str | None) -> MetricRow:
    a, b = f.as_float(mine), f.as_float(theirs)
    delta = f.signed_in_units(name, a - b) if a is not None and b is not None else f.MISSING
    return MetricRow(
        f.clip(name), f.in_units(name, a), f.in_units(name, b), delta, interval or f.MISSING
    )


def _operational_rows(candidate: Evaluation, champion: Evaluation | None) -> list[MetricRow]:
    def latency(e: Evaluation | None, key: str) -> float | None:
        return getattr(e.latency, key) if e is not None and e.latency is not None else None

    rows = []
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        mine, theirs = latency(candidate, key), latency(champion, key)
        if mine is not None or theirs is not None:
            rows.append(_metric_row(f"latency_{key}", mine, theirs, None))
    mine_size = candidate.model_size_bytes
    their_size = champion.model_size_bytes if champion else None
    if mine_size is not None or their_size is not None:
        rows.append(_metric_row("model_size_bytes", mine_size, their_size, None))
    return rows


def gate_row(gate: GateResult) -> GateRow:
    """One gate as the table shows it; ``evidence`` is the evidence dict in one line."""
    threshold = (
        f"{gate.operator or ''} {f.in_units(gate.metric, gate.threshold)}".strip()
        if gate.threshold is not None
        else f.MISSING
    )
    return GateRow(
        icon=ICONS.get(gate.status, "❔"),
        status=gate.status,
        name=f.clip(gate.name),
        kind=gate.kind,
        value=f.in_units(gate.metric, gate.value),
        threshold=threshold,
        test=f.clip(gate.test) if gate.test else f.MISSING,
        n=f.count(gate.n),
        interval=f.interval(gate.interval, with_sign=gate.kind == "comparison"),
        p_value=f.p_value(gate.p_value),
        detail=f.clip(gate.detail, 500),
        evidence=evidence_line(gate.evidence),
    )


def validation_row(summary: ValidationSummary) -> ValidationRow:
    """One data set's validation outcome, its failures as short sentences."""
    return ValidationRow(
        icon="✅" if summary.passed else "❌",
        name=f.clip(summary.name),
        data=f.clip(summary.data),
        schema=f.clip(summary.schema) if summary.schema else f.MISSING,
        rows=f.count(summary.rows),
        failed_checks=f.count(summary.failed_checks),
        failures=[_failure(item) for item in summary.failures],
    )


def _failure(item: dict[str, Any]) -> str:
    column = item.get("column")
    check = item.get("check") or item.get("name") or "check"
    rows = next(
        (item[k] for k in ("rows", "failing_rows", "rows_failing", "count", "n") if k in item),
        None,
    )
    parts = [f"{check} on {column}" if column else str(check)]
    if f.as_float(rows) is not None:
        parts.append(f"{f.count(rows)} rows failing")
    if item.get("message"):
        parts.append(str(item["message"]))
    return f.clip(": ".join(parts), 300)


def slice_tables(candidate: Evaluation, champion: Evaluation | None) -> list[SliceTable]:
    """One table per slice column: value, n, the main metric of both models and Δ, others."""
    theirs = {(s.column, s.value): s for s in champion.slices} if champion else {}
    columns = list(dict.fromkeys(s.column for s in candidate.slices))
    return [
        _slice_table(
            candidate.task, column, [s for s in candidate.slices if s.column == column], theirs
        )
        for column in columns
    ]


def main_metric(task: str, names: list[str]) -> str | None:
    """The metric slice plots and tables lead with: roc_auc/accuracy, or rmse/mae."""
    preferred = ("rmse", "mae", "r2") if task == "regression" else ("roc_auc", "accuracy", "f1")
    return next((m for m in preferred if m in names), names[0] if names else None)


def _slice_table(
    task: str, column: str, mine: list[SliceMetrics], theirs: dict[tuple[str, str], SliceMetrics]
) -> SliceTable:
    names = list(dict.fromkeys(m for s in mine for m in s.metrics))
    lead = main_metric(task, names)
    others = [m for m in names if m != lead][:3]
    header = ["value", "n"]
    if lead:
        header += [lead, f"{lead} (champion)", "Δ"] if theirs else [lead]
    header += others
    rows = []
    for s in mine:
        cells = [f.clip(s.value, 80), f.count(s.n)]
        if lead:
            cells.append(f.number(s.metrics.get(lead)))
            if theirs:
                cells += _champion_cells(s.metrics.get(lead), theirs.get((s.column, s.value)), lead)
        rows.append(cells + [f.number(s.metrics.get(m)) for m in others])
    return SliceTable(f.clip(column, 80), [f.clip(h, 40) for h in header], rows)


def _champion_cells(mine: Any, other: SliceMetrics | None, lead: str) -> list[str]:
    theirs = other.metrics.get(lead) if other else None
    a, b = f.as_float(mine), f.as_float(theirs)
    delta = f.signed(a - b) if a is not None and b is not None else f.MISSING
    return [f.number(b), delta]
