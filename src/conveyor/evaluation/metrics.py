"""The metrics of one model on one holdout, computed with scikit-learn's metric functions.

=========== ============================================================================
task        metrics (``*``: only when the model gives probabilities)
=========== ============================================================================
binary      accuracy, balanced_accuracy, precision, recall, f1, roc_auc*, pr_auc*,
            log_loss*, brier*
multiclass  accuracy, balanced_accuracy, f1_macro, precision_macro, recall_macro, log_loss*
regression  rmse, mse, mae, r2, mape (not when a true value is 0), median_ae, max_error
=========== ============================================================================

A metric that is undefined on the rows given is NaN, never an exception: roc_auc and pr_auc
when ``y_true`` holds a single class (or no positive), precision when nothing is predicted
positive, recall when nothing is positive, f1 when both, r2 with fewer than two rows. The
macro averages count a class the model never predicts as precision 0 (scikit-learn's
``zero_division=0``), so never predicting a class lowers them.

>>> evaluation, predictions = evaluate(model, holdout, "churn", slices=["region"])  # doctest: +SKIP
>>> evaluation.metrics["roc_auc"]  # doctest: +SKIP
0.941
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from conveyor.errors import DataError, InvalidValue
from conveyor.evaluation.operational import model_size_bytes, single_row_latency
from conveyor.evaluation.predict import (
    Predictions,
    feature_frame,
    label_text,
    natural_order,
    predict_frame,
)
from conveyor.evaluation.results import (
    Calibration,
    CalibrationBin,
    ConfusionMatrix,
    Evaluation,
    SliceMetrics,
    Task,
)

if TYPE_CHECKING:
    from conveyor.modelpack import LoadedModel

Direction = Literal["higher", "lower"]
MISSING = "missing"  # the slice of rows whose slice column is empty
MAX_CATEGORIES = 10  # numeric slice columns with more distinct values are cut into quartiles


@dataclass(frozen=True)
class Metric:
    """One metric: which tasks it applies to, whether it needs probabilities, its direction."""

    name: str
    direction: Direction
    tasks: tuple[Task, ...]
    needs_scores: bool
    compute: Callable[[Predictions], float]


def _accuracy(p: Predictions) -> float:
    return float(skm.accuracy_score(p.y_true, p.y_pred))


def _balanced_accuracy(p: Predictions) -> float:
    with warnings.catch_warnings():  # the mean recall of the classes in y_true, whatever else
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", "A single label was found")
        return float(skm.balanced_accuracy_score(p.y_true, p.y_pred))


def _binary_counts(kind: str) -> Callable[[Predictions], float]:
    score = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}

    def compute(p: Predictions) -> float:
        return float(score[kind](p.actual_positive, p.predicted_positive, zero_division=np.nan))

    return compute


def _macro(kind: str) -> Callable[[Predictions], float]:
    score = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}

    def compute(p: Predictions) -> float:
        value = score[kind](p.y_true, p.y_pred, average="macro", zero_division=0.0)
        return float(value)

    return compute


def _roc_auc(p: Predictions) -> float:
    positive = p.actual_positive
    if positive.all() or not positive.any():
        return math.nan  # needs both classes in y_true
    return float(skm.roc_auc_score(positive, p.scores))


def _pr_auc(p: Predictions) -> float:
    positive = p.actual_positive
    if not positive.any():
        return math.nan  # precision-recall is undefined without a positive row
    return float(skm.average_precision_score(positive, p.scores))


def _log_loss(p: Predictions) -> float:
    assert p.scores is not None
    assert p.classes is not None
    if p.task == "binary":
        return float(skm.log_loss(p.actual_positive.astype(int), p.scores, labels=[0, 1]))
    order = np.argsort(p.classes)  # scikit-learn reads the columns in sorted label order
    labels = [p.classes[i] for i in order]
    return float(skm.log_loss(p.y_true, p.scores[:, order], labels=labels))


def _brier(p: Predictions) -> float:
    return float(skm.brier_score_loss(p.actual_positive.astype(int), p.scores, pos_label=1))


def _mse(p: Predictions) -> float:
    return float(skm.mean_squared_error(p.y_true, p.y_pred))


def _rmse(p: Predictions) -> float:
    return float(skm.root_mean_squared_error(p.y_true, p.y_pred))


def _r2(p: Predictions) -> float:
    return float(skm.r2_score(p.y_true, p.y_pred)) if p.n >= 2 else math.nan


def _mape(p: Predictions) -> float:
    if np.any(p.y_true == 0):
        return math.nan  # a relative error of a zero value is infinite
    return float(skm.mean_absolute_percentage_error(p.y_true, p.y_pred))


def _regression(function: Callable[..., float]) -> Callable[[Predictions], float]:
    return lambda p: float(function(p.y_true, p.y_pred))


BINARY: tuple[Task, ...] = ("binary",)
LABELS: tuple[Task, ...] = ("binary", "multiclass")
REGRESSION: tuple[Task, ...] = ("regression",)
METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("accuracy", "higher", LABELS, False, _accuracy),
        Metric("balanced_accuracy", "higher", LABELS, False, _balanced_accuracy),
        Metric("precision", "higher", BINARY, False, _binary_counts("precision")),
        Metric("recall", "higher", BINARY, False, _binary_counts("recall")),
        Metric("f1", "higher", BINARY, False, _binary_counts("f1")),
        Metric("roc_auc", "higher", BINARY, True, _roc_auc),
        Metric("pr_auc", "higher", BINARY, True, _pr_auc),
        Metric("log_loss", "lower", LABELS, True, _log_loss),
        Metric("brier", "lower", BINARY, True, _brier),
        Metric("f1_macro", "higher", ("multiclass",), False, _macro("f1")),
        Metric("precision_macro", "higher", ("multiclass",), False, _macro("precision")),
        Metric("recall_macro", "higher", ("multiclass",), False, _macro("recall")),
        Metric("rmse", "lower", REGRESSION, False, _rmse),
        Metric("mse", "lower", REGRESSION, False, _mse),
        Metric("mae", "lower", REGRESSION, False, _regression(skm.mean_absolute_error)),
        Metric("r2", "higher", REGRESSION, False, _r2),
        Metric("mape", "lower", REGRESSION, False, _mape),
        Metric("median_ae", "lower", REGRESSION, False, _regression(skm.median_absolute_error)),
        Metric("max_error", "lower", REGRESSION, False, _regression(skm.max_error)),
    )
}


def metric_direction(name: str) -> Direction:
    """``"higher"`` if a larger value of metric ``name`` is better, else ``"lower"``."""
    return _known(name).direction


def available_metrics(p: Predictions) -> list[str]:
    """The names of the metrics that :func:`compute_metric` can compute for ``p``."""
    return [
        metric.name
        for metric in METRICS.values()
        if p.task in metric.tasks and (p.scores is not None or not metric.needs_scores)
    ]


def compute_metric(name: str, p: Predictions) -> float:
    """The metric ``name`` on ``p`` (NaN where it is undefined, see the module docstring).

    Raises InvalidValue for an unknown name, a metric of another task, or a probability
    metric when ``p`` has no scores.

    >>> compute_metric("roc_auc", predictions)  # doctest: +SKIP
    0.9412
    """
    metric = _known(name)
    if p.task not in metric.tasks:
        raise InvalidValue(
            f"{name} is a metric for {' and '.join(metric.tasks)} tasks; this is a {p.task} task",
            hint=f"{p.task} metrics: {', '.join(available_metrics(p))}",
        )
    if metric.needs_scores and p.scores is None:
        raise InvalidValue(
            f"{name} needs predicted probabilities, and the model gives none",
            hint="use a model with predict_proba, or a metric of the predicted labels",
        )
    return metric.compute(p)


def classification_metrics(p: Predictions) -> dict[str, float]:
    """Every binary or multiclass metric that applies to ``p`` (see the module table)."""
    if p.task == "regression":
        raise InvalidValue("classification_metrics needs a binary or multiclass task")
    return {name: compute_metric(name, p) for name in available_metrics(p)}


def regression_metrics(p: Predictions) -> dict[str, float]:
    """rmse, mse, mae, r2, mape (not when a true value is 0), median_ae and max_error."""
    if p.task != "regression":
        raise InvalidValue(f"regression_metrics needs a regression task, not {p.task}")
    values = {name: compute_metric(name, p) for name in available_metrics(p)}
    if math.isnan(values["mape"]):
        del values["mape"]
    return values


def task_metrics(p: Predictions) -> dict[str, float]:
    """:func:`regression_metrics` or :func:`classification_metrics`, by the task of ``p``."""
    return regression_metrics(p) if p.task == "regression" else classification_metrics(p)


def confusion(p: Predictions) -> ConfusionMatrix:
    """Counts of true label (rows) by predicted label (columns), over every class."""
    if p.classes is None:
        raise InvalidValue("a confusion matrix needs a binary or multiclass task")
    matrix = skm.confusion_matrix(p.y_true, p.y_pred, labels=p.classes)
    return ConfusionMatrix(labels=list(p.classes), matrix=matrix.tolist())


def calibration(p: Predictions, bins: int = 10) -> Calibration:
    """Reliability of P(positive) in ``bins`` equal-width bins over [0, 1] (binary only).

    Each non-empty bin reports its row count, mean predicted probability and fraction of
    positive rows (a score of exactly 1 falls in the last bin). The expected calibration
    error is ``sum(count / n * |fraction_positive - mean_predicted|)`` over the bins.
    """
    if p.task != "binary" or p.scores is None:
        raise InvalidValue("calibration needs a binary task whose model gives probabilities")
    if bins < 1:
        raise InvalidValue(f"calibration needs at least one bin, got {bins}")
    index = np.minimum((p.scores * bins).astype(int), bins - 1)
    positive = p.actual_positive
    result, ece = [], 0.0
    for b in np.unique(index):
        rows = index == b
        count = int(rows.sum())
        mean_predicted = float(p.scores[rows].mean())
        fraction = float(positive[rows].mean())
        ece += count / p.n * abs(fraction - mean_predicted)
        result.append(CalibrationBin(b / bins, (b + 1) / bins, count, mean_predicted, fraction))
    return Calibration(bins=result, ece=ece, brier=_brier(p))


def slice_metrics(
    p: Predictions, frame: pd.DataFrame, columns: Sequence[str]
) -> list[SliceMetrics]:
    """The task's metrics on the rows of each value of each column in ``columns``.

    ``frame`` holds the same rows as ``p``, in the same order. A text, boolean or
    categorical column, or a numeric one with at most 10 distinct values, is sliced by
    value; a numeric column with more is cut at its quartiles into bins labelled like
    ``"[10.2, 13.7)"`` (the last bin closed). Empty values form the slice ``"missing"``.
    """
    if len(frame) != p.n:
        raise DataError(f"the slice data has {len(frame)} rows; the predictions have {p.n}")
    absent = [column for column in columns if column not in frame.columns]
    if absent:
        raise DataError(
            f"slice column(s) {absent} are not in the data",
            hint=f"the data has the columns {[str(c) for c in frame.columns][:20]}",
        )
    result = []
    for column in columns:
        for value, rows in _slices(frame[column].reset_index(drop=True)):
            subset = p.take(rows)
            result.append(SliceMetrics(str(column), value, subset.n, task_metrics(subset)))
    return result


def _slices(values: pd.Series) -> list[tuple[str, np.ndarray]]:
    """(label, row mask) for every slice of one column, the missing slice last."""
    missing = values.isna().to_numpy()
    present = values[~missing]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and present.nunique() > MAX_CATEGORIES:
        slices = _quartile_bins(values.to_numpy(dtype=np.float64), missing)
    else:
        text = np.full(len(values), None, dtype=object)
        text[~missing] = label_text(present)
        slices = [(label, text == label) for label in natural_order(present.unique())]
    if missing.any():
        slices.append((MISSING, missing))
    return slices


def _quartile_bins(values: np.ndarray, missing: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Rows cut at the quartiles: ``[q0, q1)``, ``[q1, q2)``, ``[q2, q3)``, ``[q3, q4]``."""
    edges = np.unique(np.quantile(values[~missing], [0.0, 0.25, 0.5, 0.75, 1.0]))
    top = edges[-1]
    slices = []
    for low, high in itertools.pairwise(edges):
        last = high == top
        rows = (values >= low) & ((values <= high) if last else (values < high))
        slices.append((f"[{low:.4g}, {high:.4g}{']' if last else ')'}", rows & ~missing))
    return slices


def evaluate(
    model: LoadedModel,
    frame: pd.DataFrame,
    target: str,
    *,
    task: str = "auto",
    positive_label: str | int | bool | None = None,
    slices: Sequence[str] = (),
    latency_calls: int = 200,
    exclude: Sequence[str] = (),
) -> tuple[Evaluation, Predictions]:
    """Score ``model`` on ``frame``: metrics, slices, confusion, calibration, latency, size.

    Features are chosen as :func:`~conveyor.evaluation.predict.predict_frame` does; columns
    in ``exclude`` (sensitive attributes, ids) are never fed to a model without a
    signature. Returns the :class:`Evaluation` and the predictions it was computed from.

    >>> evaluation, predictions = evaluate(model, holdout, "churn")  # doctest: +SKIP
    """
    excluded = {str(name) for name in exclude} | {target}
    columns = [str(c) for c in frame.columns if str(c) not in excluded]
    p = predict_frame(model, frame, target, task, positive_label, feature_columns=columns)
    features = feature_frame(model, frame, target, columns)
    evaluation = Evaluation(
        task=p.task,
        n_rows=p.n,
        metrics=task_metrics(p),
        slices=slice_metrics(p, frame, slices),
        confusion=confusion(p) if p.classes is not None else None,
        calibration=calibration(p) if p.task == "binary" and p.scores is not None else None,
        latency=single_row_latency(model, features, calls=latency_calls),
        model_size_bytes=model_size_bytes(model.directory),
        positive_label=p.positive_label,
    )
    return evaluation, p


def _known(name: str) -> Metric:
    if name not in METRICS:
        raise InvalidValue(
            f"unknown metric {name!r}", hint=f"known metrics: {', '.join(sorted(METRICS))}"
        )
    return METRICS[name]
