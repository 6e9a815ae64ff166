"""The rollout report's plots, drawn like the check report's (:mod:`.charts`, :mod:`.plots`):
the same style, canary blue and stable orange, PNG bytes without matplotlib's version.

Time runs along x in minutes since the rollout was created, so two renderings of the same
rollout give the same bytes wherever they run.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from conveyor.monitoring.outcomes import quantile
from conveyor.reports.charts import CANDIDATE, CHAMPION, MARGIN, Drawn, _figure, _finish
from conveyor.reports.plots import STYLE, Plot, png_bytes
from conveyor.store.entities import OutcomeWindow, Rollout, RolloutVerdict

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class RolloutRecord:
    """What the report shows: the rollout, its verdicts, both arms' outcome windows."""

    rollout: Rollout
    verdicts: list[RolloutVerdict]
    canary: list[OutcomeWindow]
    stable: list[OutcomeWindow]


def draw(record: RolloutRecord) -> list[Plot]:
    """``weights.png``, ``errors.png``, ``latency.png``: each one only if it has data."""
    from matplotlib import rc_context

    plots = []
    with rc_context(STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)
        for file, chart in (
            ("weights.png", weights),
            ("errors.png", errors),
            ("latency.png", latency),
        ):
            title, figure = chart(record)
            if figure is not None:
                plots.append(Plot(file, title, png_bytes(figure)))
    return plots


def weight_steps(record: RolloutRecord) -> list[tuple[datetime, float]]:
    """(when, the candidate's %) at each change. A step's weights were applied when the step
    before it passed (its last verdict), the first step's after the pre-traffic checks."""
    r = record.rollout
    checks = [v for v in record.verdicts if v.explanation.startswith("pre-traffic")]
    judged = [v for v in record.verdicts if v not in checks]
    points = [(r.created_at, 0.0)]
    if judged and r.strategy != "shadow":
        points.append((checks[-1].at if checks else r.created_at, r.steps[judged[0].step]))
        for before, v in itertools.pairwise(judged):
            if v.step != before.step:
                points.append((before.at, r.steps[v.step]))
    if not r.active:
        end = max([r.ended_at or r.updated_at, *(v.at for v in record.verdicts)])
        points.append((end, 100.0 if r.status == "promoted" else 0.0))
    return points


def weights(record: RolloutRecord) -> Drawn:
    """The candidate's and the stable version's share of traffic, step by step; fails marked."""
    r = record.rollout
    points = weight_steps(record)
    x = [_minutes(r, at) for at, _ in points]
    y = [w for _, w in points]
    title = f"Traffic weights of {r.model} v{r.candidate} and v{r.stable}"
    figure, (ax,) = _figure(6.4, 3.4)
    ax.step(x, y, where="post", color=CANDIDATE, linewidth=1.6, label=f"v{r.candidate} (canary)")
    ax.step(x, [100 - w for w in y], where="post", color=CHAMPION, label=f"v{r.stable} (stable)")
    fails = [_minutes(r, v.at) for v in record.verdicts if v.decision == "fail"]
    if fails:
        ax.scatter(fails, [0] * len(fails), marker="x", color=MARGIN, zorder=3, label="fail")
    ax.set_ylim(-3, 103)
    _finish(ax, title, "minutes since the rollout began", "% of requests")
    ax.legend(loc="center right")
    return title, figure


def errors(record: RolloutRecord) -> Drawn:
    """Each 10 s window's model error rate (5xx and timeouts), canary and stable."""
    if not record.canary and not record.stable:
        return "", None
    r = record.rollout
    title = f"Error rate per window of {r.model} (5xx and timeouts)"
    figure, (ax,) = _figure(6.4, 3.4)
    for windows, colour, name in _arms(record):
        shown = [w for w in windows if w.requests]
        x = [_minutes(r, w.start) for w in shown]
        y = [100 * (w.model_errors + w.timeouts) / w.requests for w in shown]
        ax.plot(x, y, color=colour, marker=".", markersize=3, linewidth=1, label=name)
    _finish(ax, title, "minutes since the rollout began", "% of requests")
    ax.legend(loc="upper right")
    return title, figure


def latency(record: RolloutRecord) -> Drawn:
    """Each window's p50 (solid) and p99 (dashed) latency, canary and stable, log scale."""
    if not any(w.requests for w in [*record.canary, *record.stable]):
        return "", None
    r = record.rollout
    title = f"Latency per window of {r.model}: p50 and p99"
    figure, (ax,) = _figure(6.4, 3.4)
    for windows, colour, name in _arms(record):
        shown = [w for w in windows if w.requests]
        x = [_minutes(r, w.start) for w in shown]
        for q, style in ((0.5, "-"), (0.99, "--")):
            y = [1000 * (quantile(w, q) or 0.0) for w in shown]
            label = f"{name} p{round(q * 100)}"
            ax.plot(x, y, color=colour, linestyle=style, linewidth=1, label=label)
    ax.set_yscale("log")
    _finish(ax, title, "minutes since the rollout began", "milliseconds")
    ax.legend(loc="upper right")
    return title, figure


def _arms(record: RolloutRecord) -> Sequence[tuple[list[OutcomeWindow], str, str]]:
    r = record.rollout
    return (
        (record.canary, CANDIDATE, f"v{r.candidate} (canary)"),
        (record.stable, CHAMPION, f"v{r.stable} (stable)"),
    )


def _minutes(rollout: Rollout, at: datetime) -> float:
    return (at - rollout.created_at).total_seconds() / 60
