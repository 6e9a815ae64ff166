"""Metrics: hand-checked values, agreement with scikit-learn, degenerate cases, evaluate()."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from saved_models import TARGET, Fitted
from sklearn import metrics as skm

from conveyor.errors import DataError, InvalidValue
from conveyor.evaluation.metrics import (
    METRICS,
    calibration,
    classification_metrics,
    compute_metric,
    confusion,
    evaluate,
    metric_direction,
    regression_metrics,
    slice_metrics,
)
from conveyor.evaluation.predict import Predictions, predict_frame
from conveyor.evaluation.results import Evaluation


def binary_predictions(
    y_true: list[int], y_pred: list[int], scores: list[float] | None = None
) -> Predictions:
    return Predictions(
        np.array(y_true).astype(str),
        np.array(y_pred).astype(str),
        None if scores is None else np.array(scores, dtype=float),
        ["0", "1"],
        "1",
    )


# y = 1 1 1 0 0, predicted 1 1 0 1 0: TP 2, FP 1, FN 1, TN 1.
SMALL = binary_predictions([1, 1, 1, 0, 0], [1, 1, 0, 1, 0], [0.9, 0.8, 0.3, 0.6, 0.1])


def test_binary_metrics_on_a_hand_checked_example() -> None:
    values = classification_metrics(SMALL)
    assert values["accuracy"] == pytest.approx(3 / 5)
    assert values["precision"] == pytest.approx(2 / 3)
    assert values["recall"] == pytest.approx(2 / 3)
    assert values["f1"] == pytest.approx(2 / 3)
    assert values["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # positives 0.9, 0.8, 0.3 against negatives 0.6, 0.1: 5 of the 6 pairs ordered right
    assert values["roc_auc"] == pytest.approx(5 / 6)
    brier = np.mean((np.array([0.9, 0.8, 0.3, 0.6, 0.1]) - [1, 1, 1, 0, 0]) ** 2)
    assert values["brier"] == pytest.approx(brier)
    log_loss = -np.mean(np.log([0.9, 0.8, 0.3, 0.4, 0.9]))
    assert values["log_loss"] == pytest.approx(log_loss)
    assert set(values) == {
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
    }


def test_without_scores_only_label_metrics_are_reported() -> None:
    p = binary_predictions([1, 1, 0], [1, 0, 0])
    assert set(classification_metrics(p)) == {
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
    }
    with pytest.raises(InvalidValue, match="roc_auc needs predicted probabilities"):
        compute_metric("roc_auc", p)


def test_a_single_class_holdout_gives_nan_not_a_crash() -> None:
    p = binary_predictions([0, 0, 0], [0, 1, 0], [0.2, 0.7, 0.1])
    values = classification_metrics(p)  # and no warning: pytest turns warnings into errors
    assert math.isnan(values["roc_auc"])
    assert math.isnan(values["pr_auc"])
    assert math.isnan(values["recall"])  # no positive row to recall
    assert values["precision"] == 0.0
    assert values["accuracy"] == pytest.approx(2 / 3)


def test_nothing_predicted_positive_leaves_precision_undefined() -> None:
    p = binary_predictions([1, 0, 1], [0, 0, 0])
    assert math.isnan(compute_metric("precision", p))
    assert compute_metric("recall", p) == 0.0


def test_binary_metrics_agree_with_scikit_learn_on_a_real_model(binary: Fitted) -> None:
    p = predict_frame(binary.model, binary.holdout, TARGET)
    y, proba = binary.y_test, binary.estimator.predict_proba(binary.X_test)[:, 1]
    predicted = binary.estimator.predict(binary.X_test)
    values = classification_metrics(p)
    assert values["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert values["f1"] == pytest.approx(skm.f1_score(y, predicted))
    assert values["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba))
    assert values["pr_auc"] == pytest.approx(skm.average_precision_score(y, proba))
    assert values["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert 0.9 < values["roc_auc"] <= 1.0


def test_multiclass_metrics_agree_with_scikit_learn(multiclass: Fitted) -> None:
    p = predict_frame(multiclass.model, multiclass.holdout, TARGET)
    y, predicted = multiclass.y_test, multiclass.estimator.predict(multiclass.X_test)
    values = classification_metrics(p)
    assert set(values) == {
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "log_loss",
    }
    assert values["f1_macro"] == pytest.approx(skm.f1_score(y, predicted, average="macro"))
    proba = multiclass.estimator.predict_proba(multiclass.X_test)
    assert values["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_multiclass_log_loss_reads_columns_by_label_not_by_text_order() -> None:
    """Classes 2 and 10 sort differently as text; the loss must not mix up the columns."""
    classes = ["2", "10", "30"]  # the model's (numeric) order
    y = np.array(["2", "10", "30", "10"])
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.6, 0.1]])
    p = Predictions(y, y, scores, classes, None)
    expected = -np.mean(np.log([0.7, 0.8, 0.6, 0.6]))
    assert compute_metric("log_loss", p) == pytest.approx(expected)


def test_regression_metrics_agree_with_scikit_learn(regression: Fitted) -> None:
    p = predict_frame(regression.model, regression.holdout, TARGET)
    y, predicted = regression.y_test, regression.estimator.predict(regression.X_test)
    values = regression_metrics(p)
    assert values["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, predicted)))
    assert values["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    assert values["r2"] == pytest.approx(skm.r2_score(y, predicted))
    assert values["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, predicted))
    assert values["median_ae"] == pytest.approx(skm.median_absolute_error(y, predicted))
    assert values["max_error"] == pytest.approx(skm.max_error(y, predicted))


def test_mape_is_left_out_when_a_true_value_is_zero() -> None:
    p = Predictions(np.array([0.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]), None, None, None)
    values = regression_metrics(p)
    assert "mape" not in values
    assert values["mae"] == pytest.approx(2 / 3)
    assert values["max_error"] == pytest.approx(1.0)


def test_a_metric_of_another_task_is_refused() -> None:
    with pytest.raises(InvalidValue, match="rmse is a metric for regression tasks") as caught:
        compute_metric("rmse", SMALL)
    assert "roc_auc" in str(caught.value)  # the hint lists what this task can use


def test_metric_direction() -> None:
    assert metric_direction("roc_auc") == "higher"
    assert metric_direction("r2") == "higher"
    assert metric_direction("log_loss") == "lower"
    assert metric_direction("rmse") == "lower"
    with pytest.raises(InvalidValue, match="unknown metric 'auc'") as caught:
        metric_direction("auc")
    assert "roc_auc" in str(caught.value)
    assert "max_error" in str(caught.value)


def test_every_metric_has_a_direction_and_a_task() -> None:
    for name, metric in METRICS.items():
        assert metric_direction(name) in ("higher", "lower")
        assert metric.tasks


def test_confusion_matrix_counts_true_by_predicted() -> None:
    result = confusion(SMALL)
    assert result.labels == ["0", "1"]
    assert result.matrix == [[1, 1], [1, 2]]


def test_calibration_bins_and_expected_calibration_error() -> None:
    p = binary_predictions([0, 0, 1, 1, 1], [0, 0, 0, 1, 1], [0.05, 0.15, 0.15, 0.95, 1.0])
    result = calibration(p, bins=10)
    assert [(b.lower, b.upper, b.count) for b in result.bins] == [
        (0.0, 0.1, 1),
        (0.1, 0.2, 2),
        (0.9, 1.0, 2),  # a score of exactly 1 belongs to the last bin
    ]
    assert result.bins[1].mean_predicted == pytest.approx(0.15)
    assert result.bins[1].fraction_positive == pytest.approx(0.5)
    # 1/5 * |0 - 0.05| + 2/5 * |0.5 - 0.15| + 2/5 * |1 - 0.975|
    assert result.ece == pytest.approx(0.01 + 0.14 + 0.01)
    assert result.brier == pytest.approx(compute_metric("brier", p))


def test_calibration_needs_binary_scores() -> None:
    with pytest.raises(InvalidValue, match="calibration needs a binary task"):
        calibration(binary_predictions([0, 1], [0, 1]))


def test_slices_by_value_with_missing_values_as_their_own_slice() -> None:
    frame = pd.DataFrame({"region": ["n", "s", "n", None, "s"]})
    result = slice_metrics(SMALL, frame, ["region"])
    assert [(s.value, s.n) for s in result] == [("n", 2), ("s", 2), ("missing", 1)]
    north = SMALL.take(np.array([0, 2]))
    assert result[0].metrics == pytest.approx(classification_metrics(north), nan_ok=True)
    assert result[2].metrics["accuracy"] == 0.0  # row 3: a 0 predicted as 1


def test_numeric_slices_with_many_values_are_quartile_bins(regression: Fitted) -> None:
    p = predict_frame(regression.model, regression.holdout, TARGET)
    result = slice_metrics(p, regression.holdout, ["bmi"])
    assert len(result) == 4
    assert sum(s.n for s in result) == p.n
    edges = np.quantile(regression.holdout["bmi"], [0, 0.25, 0.5, 0.75, 1])
    assert result[0].value == f"[{edges[0]:.4g}, {edges[1]:.4g})"
    assert result[-1].value == f"[{edges[3]:.4g}, {edges[4]:.4g}]"
    first = regression.holdout["bmi"] < edges[1]
    assert result[0].n == first.sum()
    assert result[0].metrics["rmse"] == pytest.approx(
        compute_metric("rmse", p.take(first.to_numpy()))
    )


def test_numeric_slices_with_few_values_are_by_value_in_numeric_order() -> None:
    frame = pd.DataFrame({"visits": [10, 2, 2, 10, 1]})
    assert [s.value for s in slice_metrics(SMALL, frame, ["visits"])] == ["1", "2", "10"]


def test_a_missing_slice_column_is_named() -> None:
    with pytest.raises(DataError, match=r"slice column\(s\) \['age'\] are not in the data"):
        slice_metrics(SMALL, pd.DataFrame({"region": list("abcde")}), ["age"])


def directory_size(directory: Path) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(directory)
        for name in names
    )


def test_evaluate_fills_every_field(binary: Fitted) -> None:
    holdout = binary.holdout.assign(sex=np.where(np.arange(len(binary.holdout)) % 2, "f", "m"))
    evaluation, p = evaluate(
        binary.model, holdout, TARGET, slices=["sex"], latency_calls=20, exclude=["sex"]
    )
    assert evaluation.task == "binary"
    assert evaluation.n_rows == len(holdout) == p.n
    assert evaluation.positive_label == "1"
    assert evaluation.metrics == classification_metrics(p)
    assert [s.value for s in evaluation.slices] == ["f", "m"]
    assert evaluation.confusion is not None
    assert sum(map(sum, evaluation.confusion.matrix)) == len(holdout)
    assert evaluation.calibration is not None
    assert evaluation.latency is not None
    assert evaluation.latency.calls == 20
    assert evaluation.model_size_bytes == directory_size(binary.directory)
    assert Evaluation.from_dict(evaluation.as_dict()) == evaluation


def test_evaluate_a_regression(regression: Fitted) -> None:
    evaluation, _ = evaluate(regression.model, regression.holdout, TARGET, latency_calls=10)
    assert evaluation.task == "regression"
    assert evaluation.confusion is None
    assert evaluation.calibration is None
    assert evaluation.positive_label is None
    assert evaluation.metrics["rmse"] > 0
