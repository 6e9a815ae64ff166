"""predict_frame: features, task, labels, probabilities, and the errors a user can meet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from saved_models import TARGET, Fitted, logistic
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LinearRegression

from conveyor.errors import DataError, InvalidValue, ModelError
from conveyor.evaluation.predict import Predictions, label_text, natural_order, predict_frame
from conveyor.modelpack import load_model_dir, save_model


def test_binary_predictions_are_the_estimators_labels_and_probabilities(binary: Fitted) -> None:
    p = predict_frame(binary.model, binary.holdout, TARGET)
    assert p.task == "binary"
    assert p.classes == ["0", "1"]
    assert p.positive_label == "1"
    np.testing.assert_array_equal(p.y_true, binary.y_test.astype(str))
    np.testing.assert_array_equal(p.y_pred, binary.estimator.predict(binary.X_test).astype(str))
    assert p.scores is not None
    expected = binary.estimator.predict_proba(binary.X_test)[:, 1]
    np.testing.assert_allclose(p.scores, expected, rtol=1e-12)


def test_a_positive_label_given_as_a_number_selects_that_class(binary: Fitted) -> None:
    p = predict_frame(binary.model, binary.holdout, TARGET, positive_label=0)
    assert p.positive_label == "0"
    assert p.scores is not None
    expected = binary.estimator.predict_proba(binary.X_test)[:, 0]
    np.testing.assert_allclose(p.scores, expected, rtol=1e-12)
    assert p.actual_positive.sum() == (binary.y_test == 0).sum()


def test_a_positive_label_that_is_no_class_is_refused(binary: Fitted) -> None:
    with pytest.raises(DataError, match=r"positive_label 'yes' .* classes are \['0', '1'\]"):
        predict_frame(binary.model, binary.holdout, TARGET, positive_label="yes")


def test_multiclass_scores_follow_the_class_order(multiclass: Fitted) -> None:
    p = predict_frame(multiclass.model, multiclass.holdout, TARGET)
    assert p.task == "multiclass"
    assert p.positive_label is None
    assert p.classes == ["setosa", "versicolor", "virginica"]
    assert p.scores is not None
    np.testing.assert_allclose(p.scores, multiclass.estimator.predict_proba(multiclass.X_test))


def test_a_float_target_is_regression(regression: Fitted) -> None:
    p = predict_frame(regression.model, regression.holdout, TARGET)
    assert p.task == "regression"
    assert p.scores is None
    assert p.classes is None
    np.testing.assert_allclose(p.y_pred, regression.estimator.predict(regression.X_test))
    assert p.y_true.dtype == np.float64


def test_a_regressor_on_an_integer_target_is_regression(tmp_path: Path) -> None:
    """Integer target, few values, but the model predicts values that are not labels."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    save_model(LinearRegression().fit(X, y), tmp_path / "model", input_example=X.head())
    p = predict_frame(load_model_dir(tmp_path / "model"), X.assign(target=y), TARGET)
    assert p.task == "regression"


def test_an_integer_target_with_a_classifier_is_classification(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    labels = y.map({0: 3, 1: 7})  # any integers, as long as the model predicts them
    model = logistic().fit(X, labels)
    save_model(model, tmp_path / "model", input_example=X.head())
    p = predict_frame(load_model_dir(tmp_path / "model"), X.assign(target=labels), TARGET)
    assert p.task == "binary"
    assert p.positive_label == "7"


def test_a_boolean_target_scores_true(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    flags = y == 1
    model = logistic().fit(X, flags)
    save_model(model, tmp_path / "model", input_example=X.head())
    p = predict_frame(load_model_dir(tmp_path / "model"), X.assign(target=flags), TARGET)
    assert p.classes == ["False", "True"]
    assert p.positive_label == "True"
    assert p.scores is not None
    np.testing.assert_allclose(p.scores, model.predict_proba(X)[:, 1])


def test_the_signature_picks_the_features_and_ignores_other_columns(binary: Fitted) -> None:
    holdout = binary.holdout
    shuffled = holdout[list(reversed(holdout.columns))].assign(customer_id="abc", sex="f")
    p = predict_frame(binary.model, shuffled, TARGET)
    q = predict_frame(binary.model, holdout, TARGET)
    np.testing.assert_array_equal(p.y_pred, q.y_pred)


def test_without_a_signature_feature_columns_choose_the_features(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = logistic().fit(X, y)
    save_model(model, tmp_path / "model")  # no input example: no signature
    loaded = load_model_dir(tmp_path / "model")
    frame = X.assign(target=y, group="a")
    with pytest.raises(ModelError, match="could not predict"):
        predict_frame(loaded, frame, TARGET)  # "group" is fed to the model, which refuses it
    p = predict_frame(loaded, frame, TARGET, feature_columns=list(X.columns))
    np.testing.assert_array_equal(p.y_pred, model.predict(X).astype(str))


def test_an_explicit_binary_task_with_three_classes_is_refused(multiclass: Fitted) -> None:
    with pytest.raises(DataError, match="a binary task needs at most two classes"):
        predict_frame(multiclass.model, multiclass.holdout, TARGET, task="binary")


def test_a_missing_target_column_lists_the_columns_and_suggests(binary: Fitted) -> None:
    frame = binary.holdout.rename(columns={TARGET: "targets"})
    with pytest.raises(DataError, match="the target column 'target' is not in the data") as caught:
        predict_frame(binary.model, frame, TARGET)
    assert "'mean radius'" in str(caught.value)
    assert "did you mean 'targets'?" in str(caught.value)


def test_an_empty_frame_is_refused(binary: Fitted) -> None:
    with pytest.raises(DataError, match="no rows"):
        predict_frame(binary.model, binary.holdout.iloc[:0], TARGET)


def test_missing_target_values_are_counted(binary: Fitted) -> None:
    frame = binary.holdout.astype({TARGET: float})
    frame.loc[[3, 7], TARGET] = np.nan
    with pytest.raises(DataError, match=r"2 missing value\(s\) \(first at row 3\)"):
        predict_frame(binary.model, frame, TARGET)


def test_missing_feature_columns_are_listed(binary: Fitted) -> None:
    frame = binary.holdout.drop(columns=["mean radius", "worst area"])
    with pytest.raises(DataError, match=r"lacks 2 feature column\(s\)") as caught:
        predict_frame(binary.model, frame, TARGET)
    assert "'mean radius'" in str(caught.value)
    assert "'worst area'" in str(caught.value)


def test_a_model_that_fails_to_predict_is_a_model_error(binary: Fitted) -> None:
    frame = binary.holdout.astype({"mean radius": object})
    frame.loc[0, "mean radius"] = "not a number"
    with pytest.raises(ModelError, match="the model could not predict the 171 rows") as caught:
        predict_frame(binary.model, frame, TARGET)
    assert "not a number" in str(caught.value)


def test_an_unknown_task_is_refused(binary: Fitted) -> None:
    with pytest.raises(InvalidValue, match="task must be one of"):
        predict_frame(binary.model, binary.holdout, TARGET, task="ranking")


def test_labels_compare_by_their_string_form() -> None:
    assert list(label_text([1, 1.0, "1", True, 2.5])) == ["1", "1", "1", "True", "2.5"]
    assert list(label_text(np.array([0.0, 3.0]))) == ["0", "3"]
    assert list(label_text(pd.Series([False, True]))) == ["False", "True"]
    assert natural_order([10, 2, 2, 1]) == ["1", "2", "10"]


def test_predictions_refuse_inconsistent_arrays() -> None:
    y = np.array(["0", "1", "1"])
    with pytest.raises(InvalidValue, match="same non-zero length"):
        Predictions(y, y[:2], None, ["0", "1"], "1")
    with pytest.raises(InvalidValue, match=r"binary scores must have shape \(3,\)"):
        Predictions(y, y, np.ones((3, 2)), ["0", "1"], "1")
    with pytest.raises(InvalidValue, match="not among"):
        Predictions(y, y, None, ["0", "1"], "2")
    with pytest.raises(InvalidValue, match="regression predictions take no scores"):
        Predictions(np.ones(3), np.ones(3), np.ones(3), None, None)
