"""The report's plots: PNG bytes drawn with matplotlib, the same bytes for the same input.

Only plots whose data exists are drawn, in this order (file names are fixed)::

    roc.png, pr.png          binary task with candidate_score: ROC and precision-recall curves
    confusion.png            classification: the confusion matrices side by side
    calibration.png          binary: reliability diagram from Evaluation.calibration
    slices.png               the main metric per slice (roc_auc/accuracy, or rmse/mae)
    regression.png           regression: predicted vs actual, and residuals
    bootstrap-<i>-<m>.png    each comparison gate with a distribution of differences
    fairness-<i>-<m>.png     each fairness gate with group rates

matplotlib is imported when the first plot is drawn (never when this module is imported),
and only through its object API (``Figure``, no pyplot): no GUI backend is chosen whatever
``MPLBACKEND`` says, and no global list of figures is kept. The look is one rc style; the
candidate is always blue, the champion orange (:mod:`conveyor.reports.charts`).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from conveyor.evaluation.results import CheckResult
from conveyor.reports import charts
from conveyor.reports.curves import slug

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

STYLE: dict[RcKeyType, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs everywhere
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "image.interpolation": "nearest",
}


@dataclass(frozen=True)
class Plot:
    """One drawn plot: its file name, its title (the image's alt text) and its PNG bytes."""

    file: str
    title: str
    png: bytes


def draw_plots(check: CheckResult, predictions: pd.DataFrame | None) -> list[Plot]:
    """Every plot the data allows, as PNG bytes; a plot whose data is missing is skipped.

    >>> [p.file for p in draw_plots(check, predictions)]  # doctest: +SKIP
    ['roc.png', 'pr.png', 'confusion.png', 'calibration.png', 'slices.png', ...]
    """
    from matplotlib import rc_context

    plots = []
    with rc_context(STYLE), warnings.catch_warnings():
        # A slice value in a script DejaVu Sans lacks is drawn as boxes, not an error.
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)
        for file, draw in _planned(check, predictions):
            title, figure = draw()
            if figure is not None:
                plots.append(Plot(file, title, png_bytes(figure)))
    return plots


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG, without matplotlib's version in it (same input, same bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    figure.clear()
    return buffer.getvalue()


def _planned(
    check: CheckResult, predictions: pd.DataFrame | None
) -> Iterator[tuple[str, Callable[[], charts.Drawn]]]:
    """(file name, drawing function) of every plot that may apply, in the report's order."""
    yield "roc.png", lambda: charts.roc(check, predictions)
    yield "pr.png", lambda: charts.precision_recall(check, predictions)
    yield "confusion.png", lambda: charts.confusion(check)
    yield "calibration.png", lambda: charts.calibration(check)
    yield "slices.png", lambda: charts.slices(check)
    yield "regression.png", lambda: charts.regression(check, predictions)
    comparisons = [g for g in check.gates if g.kind == "comparison"]
    for i, gate in enumerate(comparisons, start=1):
        yield f"bootstrap-{i}-{slug(gate.metric)}.png", partial(charts.bootstrap, gate)
    fairness = [g for g in check.gates if g.kind == "fairness"]
    for i, gate in enumerate(fairness, start=1):
        yield f"fairness-{i}-{slug(gate.metric)}.png", partial(charts.fairness, gate)
