"""One function per plot: each returns ``(title, figure)``, the figure None when its data
is missing. Drawn with matplotlib's object API; matplotlib is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.evaluation.results import CheckResult, Evaluation, GateResult
from conveyor.reports import curves
from conveyor.reports import formatting as f
from conveyor.reports.content import main_metric

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CANDIDATE = "#0072B2"  # blue (Okabe-Ito: safe for colour-blind readers)
CHAMPION = "#E69F00"  # orange
NEUTRAL = "#555555"
MARGIN = "#D55E00"  # vermillion
RATES = {
    "demographic_parity": "positive-prediction rate",
    "equal_opportunity": "true-positive rate",
}
MAX_POINTS = 5000  # scatter plots show at most this many rows
MAX_BARS = 40
Drawn = tuple[str, "Figure | None"]
NOTHING: Drawn = ("", None)


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def label(text: Any, limit: int = 40) -> str:
    """Text safe for matplotlib: one short line, ``$`` not read as mathtext."""
    return f.clip(text, limit).replace("$", r"\$")


def _models(check: CheckResult) -> list[tuple[str, str, Evaluation | None, str]]:
    """(prefix, legend label, evaluation, colour) of the candidate and, if any, champion."""
    models: list[tuple[str, str, Evaluation | None, str]] = [
        ("candidate", check.candidate.label, check.candidate_eval, CANDIDATE)
    ]
    if check.champion is not None:
        models.append(("champion", check.champion.label, check.champion_eval, CHAMPION))
    return [(p, f"{p} {label(name, 30)}", e, c) for p, name, e, c in models]


def _binary_scores(
    check: CheckResult, predictions: pd.DataFrame | None
) -> list[tuple[str, str, curves.Bools, curves.Floats]]:
    """(legend label, colour, positives, scores) per model that has probability scores."""
    if predictions is None or check.candidate_eval.task != "binary":
        return []
    if "y_true" not in predictions.columns:
        return []
    positive = curves.positives(predictions["y_true"], check.candidate_eval.positive_label)
    if positive is None:
        return []
    known = predictions["y_true"].notna().to_numpy()
    found = []
    for prefix, name, _, colour in _models(check):
        score = curves.column(predictions, f"{prefix}_score")
        if score is not None:
            keep = known & np.isfinite(score)
            found.append((name, colour, positive[keep], score[keep]))
    return found


Curve = tuple[curves.Floats, curves.Floats, float]


def _curves(
    compute: Callable[[curves.Bools, curves.Floats], Curve | None],
    found: list[tuple[str, str, curves.Bools, curves.Floats]],
) -> list[tuple[str, str, Curve]]:
    """(legend label, colour, curve) per model whose curve is defined."""
    drawn = []
    for name, colour, positive, score in found:
        curve = compute(positive, score)
        if curve is not None:
            drawn.append((name, colour, curve))
    return drawn


def roc(check: CheckResult, predictions: pd.DataFrame | None) -> Drawn:
    """ROC curves of both models, AUCs in the legend, the chance diagonal."""
    drawn = _curves(curves.roc, _binary_scores(check, predictions))
    if not drawn:
        return NOTHING
    title = f"ROC curve ({_rows(predictions)} holdout rows)"
    figure, (ax,) = _figure(5.2, 4.4)
    ax.plot([0, 1], [0, 1], linestyle="--", color=NEUTRAL, linewidth=0.8, label="chance")
    for name, colour, (fpr, tpr, auc) in drawn:
        ax.plot(fpr, tpr, color=colour, linewidth=1.6, label=f"{name} (AUC {auc:.3f})")
    _finish(ax, title, "false positive rate", "true positive rate", unit_square=True)
    ax.legend(loc="lower right")
    return title, figure


def precision_recall(check: CheckResult, predictions: pd.DataFrame | None) -> Drawn:
    """Precision-recall curves, average precision in the legend, prevalence as baseline."""
    found = _binary_scores(check, predictions)
    drawn = _curves(curves.precision_recall, found)
    if not drawn:
        return NOTHING
    title = f"Precision-recall curve ({_rows(predictions)} holdout rows)"
    figure, (ax,) = _figure(5.2, 4.4)
    prevalence = float(np.mean(next(p for _, _, p, _ in found if len(p))))
    ax.axhline(prevalence, linestyle="--", color=NEUTRAL, linewidth=0.8, label="prevalence")
    for name, colour, (recall, precision, ap) in drawn:
        ax.plot(
            recall, precision, color=colour, drawstyle="steps-pre", label=f"{name} (AP {ap:.3f})"
        )
    _finish(ax, title, "recall", "precision", unit_square=True)
    ax.legend(loc="lower left")
    return title, figure


def confusion(check: CheckResult) -> Drawn:
    """The confusion matrices side by side, coloured by share of each true class."""
    if check.candidate_eval.task == "regression":
        return NOTHING
    panels = []
    for _, name, e, _ in _models(check):
        if e is not None and e.confusion is not None:
            matrix = _square(e.confusion.matrix, len(e.confusion.labels))
            if matrix is not None:
                panels.append((name, matrix, e.confusion.labels))
    if not panels:
        return NOTHING
    size = len(panels[0][2])
    side = min(3.2 + 0.35 * size, 9.0)
    title = f"Confusion matrices ({f.count(check.candidate_eval.n_rows)} holdout rows)"
    figure, axes = _figure(side * len(panels), side, ncols=len(panels))
    for ax, (name, matrix, labels) in zip(axes, panels, strict=True):
        _matrix(ax, matrix, [label(x, 15) for x in labels])
        ax.set_title(name)
    figure.suptitle(title, fontweight="bold")
    return title, figure


def _square(matrix: Any, size: int) -> curves.Floats | None:
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if size > 0 and array.shape == (size, size) else None


def _matrix(ax: Axes, matrix: curves.Floats, labels: list[str]) -> None:
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    ticks = range(len(labels)) if len(labels) <= 30 else []
    ax.set_xticks(list(ticks), [labels[i] for i in ticks], rotation=45, ha="right")
    ax.set_yticks(list(ticks), [labels[i] for i in ticks])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 12:
        for (i, j), value in np.ndenumerate(matrix):
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, f.count(value), ha="center", va="center", color=colour, fontsize=8)


def calibration(check: CheckResult) -> Drawn:
    """Reliability diagram: observed positive rate against mean predicted probability."""
    drawn = []
    for _, name, e, colour in _models(check):
        cal = e.calibration if e is not None and e.task == "binary" else None
        bins = [b for b in cal.bins if (b.count or 0) > 0] if cal is not None else []
        if cal is not None and bins:
            points = (
                [_or_nan(b.mean_predicted) for b in bins],
                [_or_nan(b.fraction_positive) for b in bins],
            )
            drawn.append((f"{name} (ECE {f.number(cal.ece)})", colour, points))
    if not drawn:
        return NOTHING
    title = f"Calibration ({f.count(check.candidate_eval.n_rows)} holdout rows)"
    figure, (ax,) = _figure(5.2, 4.4)
    ax.plot([0, 1], [0, 1], linestyle="--", color=NEUTRAL, linewidth=0.8, label="perfect")
    for name, colour, (x, y) in drawn:
        ax.plot(x, y, marker="o", markersize=4, color=colour, label=name)
    _finish(ax, title, "mean predicted probability", "fraction positive", unit_square=True)
    ax.legend(loc="upper left")
    return title, figure


def slices(check: CheckResult) -> Drawn:
    """The main metric per slice as bars, candidate beside champion."""
    mine = check.candidate_eval.slices
    names = list(dict.fromkeys(m for s in mine for m in s.metrics))
    lead = main_metric(check.candidate_eval.task, names)
    shown = [s for s in mine if lead and f.as_float(s.metrics.get(lead)) is not None][:MAX_BARS]
    if lead is None or not shown:
        return NOTHING
    champion = check.champion_eval if check.champion is not None else None
    theirs = {(s.column, s.value): s.metrics.get(lead) for s in champion.slices} if champion else {}
    more = f", first {len(shown)} of {len(mine)} slices" if len(mine) > len(shown) else ""
    title = f"{label(lead)} by slice ({f.count(check.candidate_eval.n_rows)} holdout rows{more})"
    figure, (ax,) = _figure(7.0, 1.4 + 0.32 * len(shown))
    y = np.arange(len(shown), dtype=np.float64)
    height = 0.4 if theirs else 0.7
    mine_values = [float(s.metrics[lead]) for s in shown]
    ax.barh(
        y - (height / 2 if theirs else 0), mine_values, height, color=CANDIDATE, label="candidate"
    )
    if theirs:
        values = [_or_nan(theirs.get((s.column, s.value))) for s in shown]
        ax.barh(y + height / 2, values, height, color=CHAMPION, label="champion")
    ax.set_yticks(y, [label(f"{s.column}={s.value} (n={f.count(s.n)})", 45) for s in shown])
    _bar_labels(ax)
    _finish(ax, title, label(lead), "")
    figure.legend(loc="outside lower center", ncols=2)
    return title, figure


def _or_nan(value: Any) -> float:
    number = f.as_float(value)
    return np.nan if number is None else number


def regression(check: CheckResult, predictions: pd.DataFrame | None) -> Drawn:
    """Predicted against actual (with y = x), and residuals against predicted."""
    y_true = curves.column(predictions, "y_true")
    if check.candidate_eval.task != "regression" or y_true is None:
        return NOTHING
    series = []
    for prefix, name, _, colour in _models(check):
        pred = curves.column(predictions, f"{prefix}_pred")
        if pred is not None:
            series.append((name, colour, pred))
    if not series:
        return NOTHING
    rows = curves.sample(len(y_true), MAX_POINTS)
    rows = rows[np.isfinite(y_true[rows])]  # rows with a true value
    if not len(rows):
        return NOTHING
    shown = f", {len(rows):,} shown" if len(rows) < len(y_true) else ""
    title = f"Predicted vs actual ({len(y_true):,} holdout rows{shown})"
    figure, (left, right) = _figure(10.0, 4.4, ncols=2)
    actual = y_true[rows]
    for name, colour, pred in series:
        left.scatter(actual, pred[rows], s=6, alpha=0.5, color=colour, label=name, linewidths=0)
        right.scatter(pred[rows], actual - pred[rows], s=6, alpha=0.5, color=colour, linewidths=0)
    low, high = np.nanmin(actual), np.nanmax(actual)
    left.plot([low, high], [low, high], linestyle="--", color=NEUTRAL, linewidth=0.8)
    right.axhline(0, linestyle="--", color=NEUTRAL, linewidth=0.8)
    _finish(left, "predicted vs actual", "actual", "predicted")
    _finish(right, "residuals (actual − predicted)", "predicted", "residual")
    left.legend(loc="upper left")
    figure.suptitle(title, fontweight="bold")
    return title, figure


def bootstrap(gate: GateResult) -> Drawn:
    """Histogram of the resampled improvements, its interval, zero and the margin.

    Drawn in the gate's own units: candidate − champion, or champion − candidate for a
    metric where lower is better (``higher_is_better: false`` in the evidence).
    """
    values = curves.as_floats(gate.evidence.get("distribution"))
    values = values[np.isfinite(values)] if values is not None else None
    if values is None or len(values) < 2:
        return NOTHING
    evidence = gate.evidence
    lower_better = evidence.get("higher_is_better") is False
    values = -values if lower_better else values
    what = "champion − candidate" if lower_better else "candidate − champion"
    title = f"{label(gate.metric)}: {what}, {len(values):,} bootstrap resamples"
    if gate.n:
        title += f" ({gate.n:,} rows)"
    figure, (ax,) = _figure(6.4, 3.8)
    low, high = _interval(gate, values)
    margin = _margin_line(gate)
    left, right = _span(values, low, high, 0.0, margin)
    ax.set_xlim(left, right)
    ax.hist(
        values, bins=_bins(values, right - left), color=CANDIDATE, alpha=0.55, label="resampled"
    )
    confidence = f.percent(evidence.get("confidence", 0.95))
    ax.axvspan(low, high, color=CANDIDATE, alpha=0.12, label=f"{confidence} interval")
    ax.axvline(0, color="black", linewidth=1.0, label="no difference")
    if margin is not None:
        ax.axvline(margin, color=MARGIN, linestyle="--", label=f"margin ({f.signed(margin)})")
    observed = _observed(evidence, lower_better)
    if observed is not None:
        ax.axvline(
            observed, color=CANDIDATE, linewidth=1.6, label=f"observed ({f.signed(observed)})"
        )
    better = "lower is better: " if lower_better else ""
    _finish(ax, title, f"{label(gate.metric)} ({better}{what})", "resamples")
    figure.legend(loc="outside lower center", ncols=3)
    return title, figure


def _span(values: curves.Floats, *marks: float | None) -> tuple[float, float]:
    """An x range holding the resamples and every line drawn, with a little room."""
    points = [float(values.min()), float(values.max())] + [m for m in marks if m is not None]
    low, high = min(points), max(points)
    room = (high - low) * 0.06 or 0.01
    return low - room, high + room


def _bins(values: curves.Floats, width: float) -> int | list[float]:
    """50 bins over the resamples; one thin bar when they are all the same."""
    if values.max() > values.min():
        return 50
    middle = float(values[0])
    return [middle - width / 200, middle + width / 200]


def _observed(evidence: dict[str, Any], lower_better: bool) -> float | None:
    improvement = f.as_float(evidence.get("improvement"))
    if improvement is not None:
        return improvement
    difference = f.as_float(evidence.get("difference"))
    return -difference if difference is not None and lower_better else difference


def _interval(gate: GateResult, values: curves.Floats) -> tuple[float, float]:
    if gate.interval is not None:
        low, high = (f.as_float(x) for x in gate.interval)
        if low is not None and high is not None:
            return low, high
    tail = (1 - (f.as_float(gate.evidence.get("confidence")) or 0.95)) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def _margin_line(gate: GateResult) -> float | None:
    """The gate's threshold on the difference, else ±margin by mode."""
    if gate.threshold is not None:
        return f.as_float(gate.threshold)
    margin = f.as_float(gate.evidence.get("margin"))
    if margin is None:
        return None
    return margin if gate.evidence.get("mode") == "superiority" else -margin


def fairness(gate: GateResult) -> Drawn:
    """Each group's rate as a bar, the highest and lowest marked; the gap in the title."""
    groups = [g for g in gate.evidence.get("groups") or [] if isinstance(g, dict) and "rate" in g]
    rates = curves.as_floats([g["rate"] for g in groups][:MAX_BARS])
    if rates is None or not np.isfinite(rates).any():
        return NOTHING
    gap = f.number(gate.evidence.get("gap", np.nanmax(rates) - np.nanmin(rates)))
    allowed = f" (allowed {f.number(gate.threshold)})" if gate.threshold is not None else ""
    title = f"{label(gate.name, 60)}: gap {gap}{allowed}"
    figure, (ax,) = _figure(6.4, 1.4 + 0.32 * len(rates))
    y = np.arange(len(rates), dtype=np.float64)
    names = [label(f"{g.get('group')} (n={f.count(g.get('n'))})", 45) for g in groups[: len(rates)]]
    ax.barh(y, rates, 0.6, color=CANDIDATE)
    for value in (np.nanmin(rates), np.nanmax(rates)):
        ax.axvline(value, color=NEUTRAL, linestyle="--", linewidth=0.8)
    ax.set_yticks(y, names)
    _bar_labels(ax)
    xlabel = RATES.get(gate.metric, f"{label(gate.metric)} rate")
    _finish(ax, title, xlabel, "", note=_excluded(gate))
    return title, figure


def _excluded(gate: GateResult) -> str:
    left_out = [g for g in gate.evidence.get("excluded") or [] if isinstance(g, dict)]
    names = ", ".join(
        label(f"{g.get('group')} (n={f.count(g.get('n'))})", 30) for g in left_out[:5]
    )
    return f"left out (too small): {names}" if names else ""


def _bar_labels(ax: Axes) -> None:
    """Each bar's value at its end; first bar on top; no horizontal grid lines."""
    for bars in ax.containers:
        ax.bar_label(bars, fmt="%.4g", fontsize=7, padding=2)  # type: ignore[arg-type]
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.margins(x=0.12)


def _finish(
    ax: Axes, title: str, xlabel: str, ylabel: str, *, unit_square: bool = False, note: str = ""
) -> None:
    ax.set_title(title)
    ax.set_xlabel(f"{xlabel}\n{note}" if note else xlabel)
    ax.set_ylabel(ylabel)
    if unit_square:
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)


def _rows(predictions: pd.DataFrame | None) -> str:
    return f.count(0 if predictions is None else len(predictions))
