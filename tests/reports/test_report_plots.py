"""The plots: which are drawn for which check, valid PNGs, the same bytes every time."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from conveyor.evaluation.results import GateResult, SliceMetrics
from conveyor.reports.plots import Plot, draw_plots
from conveyor.reports.render import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def files(plots: list[Plot]) -> list[str]:
    return [p.file for p in plots]


def assert_real_png(png: bytes) -> None:
    """A PNG of a sensible size that matplotlib drew something on (not one flat colour)."""
    from matplotlib.image import imread

    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk comes first
    assert 300 <= width <= 2000
    assert 150 <= height <= 2000
    pixels = imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (height, width)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20
    assert b"Software" not in png
    assert b"matplotlib version" not in png


@pytest.fixture(scope="module")
def binary_plots(binary) -> list[Plot]:
    return draw_plots(*binary)


def test_a_binary_check_gets_every_classification_plot(binary_plots):
    assert files(binary_plots) == [
        "roc.png",
        "pr.png",
        "confusion.png",
        "calibration.png",
        "slices.png",
        "bootstrap-1-accuracy.png",
        "fairness-1-demographic_parity.png",
    ]
    for plot in binary_plots:
        assert_real_png(plot.png)
    assert binary_plots[0].title == "ROC curve (400 holdout rows)"


def test_a_regression_check_gets_scatter_and_residuals(regression):
    plots = draw_plots(*regression)
    assert files(plots) == ["slices.png", "regression.png", "bootstrap-1-rmse.png"]
    assert plots[1].title == "Predicted vs actual (400 holdout rows)"
    for plot in plots:
        assert_real_png(plot.png)


def test_a_multiclass_check_without_scores_gets_no_curves(multiclass):
    plots = draw_plots(*multiclass)
    assert files(plots) == ["confusion.png", "slices.png", "bootstrap-1-accuracy.png"]


def test_without_a_champion_only_the_candidate_is_drawn(no_champion):
    assert files(draw_plots(*no_champion)) == [
        "roc.png",
        "pr.png",
        "confusion.png",
        "calibration.png",
        "slices.png",
        "fairness-1-demographic_parity.png",
    ]


def test_without_predictions_the_curves_are_skipped(binary):
    check, _ = binary
    assert "roc.png" not in files(draw_plots(check, None))
    assert "confusion.png" in files(draw_plots(check, None))  # from the evaluation


def test_missing_or_odd_data_skips_a_plot_instead_of_failing(binary):
    check, predictions = binary
    odd = [
        GateResult("a", "comparison", "passed", "m", "d", evidence={"distribution": "x"}),
        GateResult("b", "comparison", "passed", "m", "d", evidence={"distribution": [1.0]}),
        GateResult("c", "fairness", "passed", "m", "d", evidence={"groups": [{"rate": "?"}]}),
        GateResult("d", "fairness", "passed", "m", "d", evidence={"groups": "F"}),
    ]
    confusion = replace(check.candidate_eval.confusion, matrix=[[1, 2]])  # not square
    check = replace(
        check,
        gates=odd,
        candidate_eval=replace(check.candidate_eval, confusion=confusion, calibration=None),
        champion_eval=replace(check.champion_eval, confusion=None, calibration=None),
    )
    no_scores = predictions.drop(columns=["candidate_score", "champion_score"])
    assert files(draw_plots(check, no_scores)) == ["slices.png"]
    one_class = predictions.assign(y_true="yes")
    assert "roc.png" not in files(draw_plots(check, one_class))


def test_labels_with_dollars_and_missing_glyphs_are_drawn_as_text(binary):
    check, predictions = binary
    value = "$x^2$ ✓ 漢字 $"
    slices = [SliceMetrics("col", value, 9, {"roc_auc": 0.7})]
    check = replace(check, candidate_eval=replace(check.candidate_eval, slices=slices))
    (plot,) = [p for p in draw_plots(check, predictions) if p.file == "slices.png"]
    assert_real_png(plot.png)


def test_the_same_check_gives_the_same_png_bytes(binary, binary_plots, tmp_path):
    check, predictions = binary
    write_report(check, predictions, tmp_path)  # draws them again
    for plot in binary_plots:
        assert (tmp_path / plot.file).read_bytes() == plot.png


def test_many_slices_are_capped_and_large_holdouts_sampled(regression):
    check, predictions = regression
    many = [SliceMetrics("c", str(i), 5, {"rmse": float(i)}) for i in range(100)]
    big = predictions.sample(n=20_000, replace=True, random_state=0).reset_index(drop=True)
    check = replace(check, candidate_eval=replace(check.candidate_eval, slices=many))
    plots = {p.file: p for p in draw_plots(check, big)}
    assert plots["slices.png"].title == "rmse by slice (400 holdout rows, first 40 of 100 slices)"
    assert plots["regression.png"].title == "Predicted vs actual (20,000 holdout rows, 5,000 shown)"


def test_importing_the_report_modules_does_not_import_matplotlib():
    code = (
        "import sys, conveyor.reports.render, conveyor.reports.plots; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_values_in_predictions_raise_no_warning(regression, binary):
    check, predictions = regression
    holes = predictions.copy()
    holes.loc[::2, "y_true"] = None
    holes.loc[::3, "champion_pred"] = None
    assert "regression.png" in files(draw_plots(check, holes))
    check, predictions = binary
    holes = predictions.copy()
    holes.loc[::2, "y_true"] = None
    holes["candidate_score"] = holes["candidate_score"].where(holes["y_true"].isna())
    assert "roc.png" in files(draw_plots(check, holes))  # the champion's curve only
