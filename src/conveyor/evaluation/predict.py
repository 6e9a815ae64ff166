"""A model's predictions on a holdout frame, in the one shape every metric and test reads.

:func:`predict_frame` picks the feature columns, predicts, decides the task and returns
:class:`Predictions`: the true values, the predictions and, for classifiers that give them,
the probabilities. Class labels are compared by their string form (``1``, ``1.0`` and ``"1"``
are the same class; ``True`` is ``"True"``), so a target read from CSV matches the labels a
model was trained on.

>>> p = predict_frame(load_model_dir("model"), holdout, target="churn")  # doctest: +SKIP
>>> p.task, p.positive_label, p.scores[:3]  # doctest: +SKIP
('binary', '1', array([0.12, 0.93, 0.40]))
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from conveyor.errors import DataError, InvalidValue, ModelError
from conveyor.evaluation.results import Task

if TYPE_CHECKING:
    from conveyor.modelpack import LoadedModel

TASKS = ("auto", "binary", "multiclass", "regression")
MAX_INTEGER_CLASSES = 20  # an integer target with more distinct values is a regression target
PROBABILITY_TOLERANCE = 1e-3  # how far a row of predict_proba may sum from 1


@dataclass(frozen=True, eq=False)
class Predictions:
    """What a model predicted for each holdout row, beside the truth.

    Classification: ``y_true`` and ``y_pred`` hold labels as strings, ``classes`` every label
    (the model's class order first), ``scores`` the probabilities if the model gives them:
    P(``positive_label``) as a 1-d array for binary tasks, an (n, len(classes)) matrix for
    multiclass ones. Regression: float arrays, ``scores``, ``classes`` and
    ``positive_label`` are None. The task follows: no classes means regression, a positive
    label means binary.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray | None
    classes: list[str] | None
    positive_label: str | None

    def __post_init__(self) -> None:
        n = len(self.y_true)
        if self.y_true.ndim != 1 or self.y_pred.shape != (n,) or n == 0:
            raise InvalidValue(
                "y_true and y_pred must be 1-d arrays of the same non-zero length, got shapes "
                f"{self.y_true.shape} and {self.y_pred.shape}"
            )
        if self.classes is None:
            if self.scores is not None or self.positive_label is not None:
                raise InvalidValue("regression predictions take no scores and no positive label")
            return
        if self.positive_label is not None and self.positive_label not in self.classes:
            raise InvalidValue(
                f"the positive label {self.positive_label!r} is not among {self.classes}"
            )
        expected = (n,) if self.positive_label is not None else (n, len(self.classes))
        if self.scores is not None and self.scores.shape != expected:
            raise InvalidValue(
                f"{self.task} scores must have shape {expected}, got {self.scores.shape}"
            )

    @property
    def task(self) -> Task:
        """``"binary"``, ``"multiclass"`` or ``"regression"``."""
        if self.classes is None:
            return "regression"
        return "binary" if self.positive_label is not None else "multiclass"

    @property
    def n(self) -> int:
        """The number of rows."""
        return len(self.y_true)

    @property
    def actual_positive(self) -> np.ndarray:
        """Binary tasks: whether each row's true label is the positive label."""
        return np.asarray(self.y_true == self._positive())

    @property
    def predicted_positive(self) -> np.ndarray:
        """Binary tasks: whether each row was predicted as the positive label."""
        return np.asarray(self.y_pred == self._positive())

    def take(self, rows: np.ndarray) -> Predictions:
        """The predictions of the given rows (positions, or a boolean mask)."""
        scores = None if self.scores is None else self.scores[rows]
        return Predictions(
            self.y_true[rows], self.y_pred[rows], scores, self.classes, self.positive_label
        )

    def _positive(self) -> str:
        if self.positive_label is None:
            raise InvalidValue(f"positive rows are defined for binary tasks, not {self.task}")
        return self.positive_label


def predict_frame(
    model: LoadedModel,
    frame: pd.DataFrame,
    target: str,
    task: str = "auto",
    positive_label: str | int | bool | None = None,
    feature_columns: list[str] | None = None,
) -> Predictions:
    """Predict every row of ``frame`` with ``model`` and pair it with the ``target`` column.

    Features: the model signature's input columns when it names them, else
    ``feature_columns`` when given, else every column but the target. ``task="auto"`` means
    classification when the target holds booleans, text or categories, or integers with at
    most 20 distinct values that the model's predictions are among (by string form);
    anything else is regression. The binary positive label is ``positive_label`` (compared
    by string form) or the last class: the model's own last class when it knows its classes
    (scikit-learn's ``classes_[1]``), else the larger of the two labels (1 for 0/1, True).

    Raises DataError for an empty frame, a missing target column, a target with missing
    values or missing feature columns, and ModelError when the model fails to predict.

    >>> p = predict_frame(model, holdout, "species")  # doctest: +SKIP
    >>> p.task, p.classes  # doctest: +SKIP
    ('multiclass', ['setosa', 'versicolor', 'virginica'])
    """
    if task not in TASKS:
        raise InvalidValue(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    truth = _target(frame, target)
    features = feature_frame(model, frame, target, feature_columns)
    raw = _predict(model, features)
    model_classes = model.classes()
    chosen = cast(Task, task) if task != "auto" else _infer_task(truth, raw, model_classes)
    if chosen == "regression":
        return _regression(truth, raw, target)
    _check_known_labels(truth, model_classes, target)
    labels = _class_list(model_classes, truth, raw)
    if chosen == "binary":
        labels, positive = _binary_classes(labels, positive_label, target)
    else:
        positive = None
    scores = _scores(model, features, model_classes, labels, positive)
    return Predictions(label_text(truth), label_text(raw), scores, labels, positive)


def feature_frame(
    model: LoadedModel,
    frame: pd.DataFrame,
    target: str,
    feature_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The columns of ``frame`` the model is fed (see :func:`predict_frame`), in order."""
    by_name = {str(column): column for column in frame.columns}
    signature = model.signature
    wanted = signature.columns if signature is not None else None
    if wanted is None and feature_columns is not None:
        wanted = [str(name) for name in feature_columns if str(name) != target]
    if wanted is None:
        return frame.drop(columns=[by_name[target]])
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise DataError(
            f"the data lacks {len(missing)} feature column(s) the model needs: {missing[:10]}",
            hint=f"the data has the columns {list(by_name)[:20]}",
        )
    return frame[[by_name[name] for name in wanted]]


def label_text(values: Iterable[Any]) -> np.ndarray:
    """Labels as strings: ``1``, ``1.0`` and ``"1"`` give ``"1"``; ``True`` gives ``"True"``."""
    array: np.ndarray
    if isinstance(values, pd.Series):
        array = values.to_numpy()
    elif isinstance(values, np.ndarray):
        array = values.ravel()
    else:  # a list may mix kinds; numpy would turn them all into text ("1.0", "True")
        array = np.asarray(list(values), dtype=object)
    if array.dtype.kind in "biuUS":
        return array.astype(str)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array % 1 == 0):
        return array.astype(np.int64).astype(str)
    return np.array([_one_label(value) for value in array], dtype=str)


def natural_order(values: Iterable[Any]) -> list[str]:
    """The distinct labels of ``values`` as text, ordered by value (2 before 10), then text."""
    distinct = pd.unique(np.asarray(list(values), dtype=object))
    try:
        ordered = sorted(distinct)
    except TypeError:  # mixed kinds of labels: order them by their text
        ordered = sorted(distinct, key=str)
    return list(dict.fromkeys(label_text(np.asarray(ordered, dtype=object)).tolist()))


def _one_label(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _target(frame: pd.DataFrame, target: str) -> pd.Series:
    """The target column, checked: present, not empty, no missing values."""
    by_name = {str(column): column for column in frame.columns}
    if target not in by_name:
        close = difflib.get_close_matches(target, list(by_name), n=1)
        raise DataError(
            f"the target column {target!r} is not in the data; its columns are "
            f"{list(by_name)[:20]}",
            hint=f"did you mean {close[0]!r}?" if close else "set evaluation.target",
        )
    if len(frame) == 0:
        raise DataError("the data has no rows to evaluate on", hint="check the holdout file")
    truth = frame[by_name[target]].reset_index(drop=True)
    missing = truth.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"the target column {target!r} has {int(missing.sum())} missing value(s) "
            f"(first at row {int(missing.argmax())})",
            hint="drop or fill those rows before evaluating",
        )
    return truth


def _predict(model: LoadedModel, features: pd.DataFrame) -> np.ndarray:
    """One prediction per row, or a ModelError saying why not."""
    try:
        raw = np.asarray(model.predict(features))
    except ModelError as exc:
        cause = exc.__cause__
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
        raise ModelError(
            f"the model could not predict the {len(features)} rows: {reason}",
            hint=exc.hint
            or "look for missing or infinite values and wrong types in the data "
            "(`conveyor validate DATA --schema SCHEMA` lists them by row)",
        ) from exc
    if raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.shape != (len(features),):
        raise ModelError(
            f"the model answered an array of shape {raw.shape} for {len(features)} rows; "
            "evaluation needs one prediction per row",
            hint="save a model whose predict returns labels or values, not a matrix",
        )
    return raw


def _infer_task(truth: pd.Series, raw: np.ndarray, model_classes: list[Any] | None) -> Task:
    """Classification for label-like targets the model predicts labels of, else regression."""
    dtype = truth.dtype
    labelled = (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )
    if not labelled:
        if not pd.api.types.is_integer_dtype(dtype) or truth.nunique() > MAX_INTEGER_CLASSES:
            return "regression"
        known = set(label_text(truth.unique())) | set(label_text(model_classes or []))
        if not set(label_text(pd.unique(raw))) <= known:
            return "regression"
    return "binary" if len(_class_list(model_classes, truth, raw)) <= 2 else "multiclass"


def _regression(truth: pd.Series, raw: np.ndarray, target: str) -> Predictions:
    try:
        y_true = truth.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"regression needs a numeric target, but {target!r} holds {truth.dtype} values",
            hint="set evaluation.task to binary or multiclass for labels",
        ) from exc
    try:
        y_pred = raw.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"regression needs numeric predictions; the model predicts {raw.dtype} values "
            f"such as {raw[0]!r}",
            hint="set evaluation.task to binary or multiclass for a classifier",
        ) from exc
    return Predictions(y_true, y_pred, None, None, None)


def _check_known_labels(truth: pd.Series, model_classes: list[Any] | None, target: str) -> None:
    """A label the classifier was never trained on is a data problem, not a new class."""
    if not model_classes:
        return
    known = set(label_text(model_classes).tolist())
    texts = label_text(truth)
    unknown = sorted({t for t in texts.tolist() if t not in known})
    if unknown:
        rows = np.flatnonzero(~np.isin(texts, list(known)))
        raise DataError(
            f"the target {target!r} holds labels the model was not trained on: "
            f"{', '.join(repr(u) for u in unknown[:5])} ({len(rows)} row(s), first at row "
            f"{int(rows[0])}); the model knows {', '.join(repr(k) for k in sorted(known))}",
            hint="fix those rows, or retrain the model on data that has the new labels",
        )


def _class_list(model_classes: list[Any] | None, truth: pd.Series, raw: np.ndarray) -> list[str]:
    """The model's classes in its order, then any other label seen, in natural order."""
    first = list(dict.fromkeys(label_text(model_classes).tolist())) if model_classes else []
    seen = np.concatenate([truth.to_numpy(dtype=object), raw.astype(object)])
    return first + [label for label in natural_order(seen) if label not in first]


def _binary_classes(
    labels: list[str], positive_label: str | int | bool | None, target: str
) -> tuple[list[str], str]:
    """The two classes and which of them is positive."""
    if positive_label is None:
        if len(labels) > 2:
            raise DataError(
                f"a binary task needs at most two classes; {target!r} and the predictions "
                f"hold {len(labels)}: {labels[:10]}",
                hint="set evaluation.task to multiclass",
            )
        return labels, labels[-1]  # the model's classes come first, in its own order
    positive = str(label_text([positive_label])[0])
    if positive not in labels and len(labels) < 2:
        labels = [*labels, positive]  # a holdout with one class still names the other
    if positive not in labels or len(labels) > 2:
        raise DataError(
            f"positive_label {positive_label!r} does not fit a binary task whose classes "
            f"are {labels[:10]}",
            hint="name one of the two classes, compared by its string form",
        )
    return labels, positive


def _scores(
    model: LoadedModel,
    features: pd.DataFrame,
    model_classes: list[Any] | None,
    labels: list[str],
    positive: str | None,
) -> np.ndarray | None:
    """P(positive) (binary) or one column per label (multiclass); None without probabilities."""
    if not model_classes:
        return None  # probabilities whose columns cannot be named are of no use
    proba = model.predict_proba(features)
    if proba is None:
        return None
    columns = label_text(model_classes).tolist()
    proba = _checked_probabilities(np.asarray(proba, dtype=np.float64), len(features), columns)
    if positive is not None:
        return proba[:, columns.index(positive)] if positive in columns else None
    scores = np.zeros((len(features), len(labels)))
    scores[:, [labels.index(label) for label in columns]] = proba
    return scores


def _checked_probabilities(proba: np.ndarray, rows: int, columns: list[str]) -> np.ndarray:
    """``proba`` if it is a (rows, classes) matrix of probabilities, rows rescaled to sum 1."""
    if proba.shape != (rows, len(columns)):
        raise ModelError(
            f"predict_proba answered shape {proba.shape}; expected ({rows}, {len(columns)}) "
            f"for the classes {columns[:10]}"
        )
    sums = proba.sum(axis=1)
    if proba.min() < 0 or proba.max() > 1 or np.abs(sums - 1).max() > PROBABILITY_TOLERANCE:
        raise ModelError(
            "predict_proba answered values that are not probabilities (each row must be "
            "in [0, 1] and sum to 1)",
            hint="save a model whose predict_proba returns class probabilities",
        )
    rescaled: np.ndarray = proba / sums[:, None]  # float32 models sum to 1 within ~1e-7
    return rescaled
