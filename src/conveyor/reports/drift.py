"""The drift report on disk (``conveyor monitor drift -o DIR``): ``report.md`` with the
verdict, a table of every feature, and one PNG per drifted feature comparing the two sides
(histograms on shared bins for numbers, category shares for the rest)::

    write_drift_report(report, reference_df, current_df, Path("drift"), "churn version 4")
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.reports import charts
from conveyor.reports.curves import slug
from conveyor.reports.plots import STYLE, png_bytes
from conveyor.reports.render import write_atomic

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from conveyor.monitoring.drift import DriftReport, FeatureDrift

REPORT = "report.md"
BINS = 30


def write_drift_report(
    report: DriftReport, reference: pd.DataFrame, current: pd.DataFrame, out: Path, title: str
) -> Path:
    """Write ``report.md`` and the plots into ``out`` (created); the report's path."""
    from matplotlib import rc_context

    out.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    with rc_context(STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)
        for feature in report.features:
            if feature.drifted and feature.name in reference and feature.name in current:
                file = f"drift-{slug(feature.name)}.png"
                figure = _plot(feature.name, reference[feature.name], current[feature.name])
                write_atomic(out / file, png_bytes(figure))
                plots[feature.name] = file
    return write_atomic(out / REPORT, _markdown(report, plots, title).encode("utf-8"))


def _markdown(report: DriftReport, plots: dict[str, str], title: str) -> str:
    data = report.as_dict()
    lines = [
        f"# Drift: {title}",
        "",
        f"**{report.statement}**",
        "",
        f"{report.n_reference} reference rows, {report.n_current} current rows; "
        f"alpha {report.alpha}, correction {report.correction}.",
        "",
        f"Rule: {data['rule']}.",
        "",
        "| feature | test | statistic | p-value | adjusted p | effect | threshold "
        "| missing ref | missing cur | drifted |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for feature in data["features"]:
        cells = [feature["name"], feature["test"]]
        cells += [_cell(feature[k]) for k in ("statistic", "p_value", "p_adjusted", "effect")]
        cells += [_cell(feature[k]) for k in ("threshold", "missing_share_ref")]
        cells += [_cell(feature.get("missing_share_cur")), "yes" if feature["drifted"] else "no"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    for feature in report.features:
        lines += ["", f"## {feature.name}", "", _explained(feature)]
        if feature.name in plots:
            lines += ["", f"![{feature.name}: reference vs current]({plots[feature.name]})"]
    return "\n".join(lines) + "\n"


def _explained(feature: FeatureDrift) -> str:
    return feature.explanation


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _plot(name: str, reference: pd.Series, current: pd.Series) -> Figure:
    import numpy as np
    import pandas as pd

    figure, (axes,) = charts._figure(6.0, 3.2)
    numeric = pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(current)
    if numeric and not pd.api.types.is_bool_dtype(reference):
        ref = reference.to_numpy(dtype=float)
        cur = current.to_numpy(dtype=float)
        both = np.concatenate([ref, cur])
        both = both[np.isfinite(both)]
        edges = list(np.histogram_bin_edges(both, bins=BINS)) if both.size else BINS
        for values, label, colour in (
            (ref, "reference", charts.CHAMPION),
            (cur, "current", charts.CANDIDATE),
        ):
            finite = values[np.isfinite(values)]
            axes.hist(finite, bins=edges, density=True, alpha=0.5, color=colour, label=label)
        axes.set_ylabel("density")
    else:
        ref_share = reference.astype(str).value_counts(normalize=True)
        cur_share = current.astype(str).value_counts(normalize=True)
        top = (ref_share.add(cur_share, fill_value=0)).nlargest(charts.MAX_BARS).index
        at = np.arange(len(top))
        axes.bar(
            at - 0.2,
            ref_share.reindex(top, fill_value=0),
            0.4,
            color=charts.CHAMPION,
            label="reference",
        )
        axes.bar(
            at + 0.2,
            cur_share.reindex(top, fill_value=0),
            0.4,
            color=charts.CANDIDATE,
            label="current",
        )
        axes.set_xticks(at, [charts.label(t, 15) for t in top], rotation=45, ha="right")
        axes.set_ylabel("share of rows")
    axes.set_title(charts.label(f"{name}: reference vs current"))
    axes.legend()
    return figure
