"""The rollout report: ``rollout.md`` with its PNGs, or one self-contained ``rollout.html``.

It shows how a rollout went: which judge decided its steps (``deploy.judge``) and what that
judge tests, its weights, error rates and latency over time (:mod:`.rollout_charts`) and
the verdict table, one row per metric of each step's deciding
verdict (the last one of the step) and of every failing one: the statistic, the threshold,
the sample on each arm with the minimum, the decision. Example::

    record = gather(ctx, "churn")                       # the latest rollout
    write_rollout_report(record, Path("out"), fmt="md")  # out/rollout.md, out/weights.png...

Text from the store (explanations) is escaped as in the check report (:mod:`.markdown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from markupsafe import escape

from conveyor.delivery.rollout.evidence import JUDGES
from conveyor.errors import InvalidValue, NotFoundError
from conveyor.reports import formatting as f
from conveyor.reports.html import data_uri
from conveyor.reports.markdown import md_code, md_text
from conveyor.reports.render import write_atomic
from conveyor.reports.rollout_charts import RolloutRecord, draw
from conveyor.store.entities import RolloutVerdict

if TYPE_CHECKING:
    from conveyor.context import Context

MARKDOWN_FILE = "rollout.md"
HTML_FILE = "rollout.html"
COLUMNS = (
    "time (UTC)",
    "step",
    "verdict",
    "metric",
    "statistic",
    "threshold",
    "n canary / stable (min)",
    "decision",
)
CSS = (
    "body{font:14px system-ui,sans-serif;max-width:1100px;margin:2em auto}"
    "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2em .5em}"
    "img{max-width:100%}"
)


@dataclass(frozen=True)
class Row:
    """One line of the verdict table, every cell already text."""

    cells: tuple[str, ...]


def gather(ctx: Context, model: str, rollout_id: str | None = None) -> RolloutRecord:
    """``model``'s rollout ``rollout_id`` (default: its latest), its verdicts and both arms'
    outcome windows from its creation to its end (or now)."""
    from conveyor.ids import utcnow
    from conveyor.monitoring.outcomes import WINDOW_S, outcomes

    if rollout_id is None:
        found = ctx.store.rollouts.of_model(model, limit=1)
        if not found:
            raise NotFoundError(
                f"model {model!r} has never been rolled out",
                hint=f"start with `conveyor deploy {model} VERSION`",
            )
        rollout = found[0]
    else:
        rollout = ctx.store.rollouts.get(rollout_id)
        if rollout.model != model:
            raise InvalidValue(
                f"rollout {rollout_id} is of model {rollout.model!r}, not {model!r}",
                hint=f"`conveyor rollout history {model}` lists its rollouts",
            )
    verdicts = ctx.store.rollouts.verdicts(rollout.id)
    since = rollout.created_at - timedelta(seconds=WINDOW_S)
    # up to the end, or the last verdict if later (a controller's clock may run ahead)
    until = max([rollout.ended_at or utcnow(), *(v.at for v in verdicts)])

    def read(version: int | None) -> list:  # type: ignore[type-arg]
        return [] if version is None else outcomes(ctx, model, since, until, version=version)

    return RolloutRecord(
        rollout,
        verdicts,
        read(rollout.candidate),
        read(rollout.stable),
    )


def shown_verdicts(verdicts: list[RolloutVerdict]) -> list[RolloutVerdict]:
    """The last verdict of each step (the one it was decided on) and every failing one."""
    last = {v.step: i for i, v in enumerate(verdicts)}
    return [v for i, v in enumerate(verdicts) if last[v.step] == i or v.decision == "fail"]


def verdict_rows(record: RolloutRecord) -> list[Row]:
    """The verdict table: one row per metric (a pre-traffic check counts as one)."""
    rows = []
    for v in shown_verdicts(record.verdicts):
        weight = record.rollout.steps[v.step]
        step = f"{v.step + 1}/{len(record.rollout.steps)} ({weight:g}%)"
        lead = (f"{v.at:%Y-%m-%d %H:%M:%S}", step, v.decision)
        metrics = v.evidence.get("metrics")
        if metrics:
            for m in metrics:
                sample = f"{f.count(m['n_canary'])} / {f.count(m['n_stable'])}"
                rows.append(
                    Row(
                        (
                            *lead,
                            m["metric"],
                            f.number(m["statistic"]),
                            f.number(m["threshold"]),
                            f"{sample} ({f.count(m['min_sample'])})",
                            m["decision"],
                        )
                    )
                )
        for check in v.evidence.get("checks", []):
            outcome = "pass" if check.get("passed") else "fail"
            rows.append(Row((*lead, f"pre-traffic {check.get('name')}", "—", "—", "—", outcome)))
        if not metrics and not v.evidence.get("checks"):
            rows.append(Row((*lead, "—", "—", "—", "—", v.explanation)))
    return rows


def write_rollout_report(
    record: RolloutRecord, out_dir: Path, *, fmt: Literal["md", "html"] = "md"
) -> Path:
    """Write the report into ``out_dir`` (created if needed); return the page's path.
    Every file goes to a temporary name first, then is renamed."""
    if fmt not in ("md", "html"):
        raise InvalidValue(f"unknown report format {fmt!r}: expected 'md' or 'html'")
    plots = draw(record)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        page = _html(record, {p.file: (p.title, p.png) for p in plots})
        return write_atomic(out_dir / HTML_FILE, page.encode("utf-8"))
    for plot in plots:
        write_atomic(out_dir / plot.file, plot.png)
    text = _markdown(record, [(p.file, p.title) for p in plots])
    return write_atomic(out_dir / MARKDOWN_FILE, text.encode("utf-8"))


def _headline(record: RolloutRecord) -> tuple[str, str]:
    r = record.rollout
    steps = ", ".join(f"{s:g}%" for s in r.steps)
    title = f"Rollout {r.id} of {r.model}: v{r.candidate} over v{r.stable}, {r.status}"
    facts = (
        f"{r.strategy}, steps {steps}; started {r.created_at:%Y-%m-%d %H:%M:%S} UTC by "
        f"{r.started_by or 'unknown'}; {len(record.verdicts)} verdict(s)"
    )
    return title, facts + (f"; {r.reason}" if r.reason else "")


def judge_of(record: RolloutRecord) -> tuple[str, str]:
    """The judge that decided the rollout's steps (``deploy.judge``; rollouts recorded
    before the option existed were judged by Conveyor's) and what it tests, in one line."""
    name = str(record.rollout.options.get("judge", "conveyor"))
    return name, JUDGES.get(name, "a judge this version of Conveyor does not know")


def _markdown(record: RolloutRecord, plots: list[tuple[str, str]]) -> str:
    title, facts = _headline(record)
    judge, tests = judge_of(record)
    lines = [f"# {md_text(title)}", "", md_text(facts), ""]
    lines += [f"**Judge:** {md_code(judge)}: {md_text(tests)}.", ""]
    for file, alt in plots:
        lines += [f"![{md_text(alt)}]({file})", ""]
    lines += ["## Verdicts", "", _shown_note(record), ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in verdict_rows(record):
        cells = [md_text(c).replace("\n", " ") for c in row.cells]
        cells[3] = md_code(row.cells[3], cell=True)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _shown_note(record: RolloutRecord) -> str:
    shown = len(shown_verdicts(record.verdicts))
    return (
        f"The deciding verdict of each step (its last) and every failing one: {shown} of "
        f"{len(record.verdicts)}. `conveyor rollout status --json` has each one's evidence."
    )


def _html(record: RolloutRecord, plots: dict[str, tuple[str, bytes]]) -> str:
    title, facts = _headline(record)
    judge, tests = judge_of(record)
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row.cells) + "</tr>"
        for row in verdict_rows(record)
    )
    figures = "".join(
        f'<figure><img src="{data_uri(png)}" alt="{escape(alt)}"></figure>'
        for alt, png in plots.values()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><h1>{escape(title)}</h1><p>{escape(facts)}</p>"
        f"<p><strong>Judge:</strong> <code>{escape(judge)}</code>: {escape(tests)}.</p>{figures}"
        f"<h2>Verdicts</h2><p>{escape(_shown_note(record))}</p>"
        f"<table><tr>{head}</tr>{body}</table></body></html>\n"
    )
