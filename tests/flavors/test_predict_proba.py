"""Class probabilities after a save and a load: the same numbers, in the same column order.

Each case fits a small classifier on scikit-learn's bundled data, saves and loads it, and
compares ``LoadedModel.predict_proba`` with the original estimator's ``predict_proba`` (and
``LoadedModel.classes`` with its ``classes_``). Regressors and models without probabilities
answer None rather than something misleading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skl2onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conveyor.flavors.onnx import convert_sklearn
from conveyor.modelpack import LoadedModel, load_model_dir, save_model

BINARY = load_breast_cancer(return_X_y=True, as_frame=True)
IRIS = load_iris(return_X_y=True, as_frame=True)
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])
ONNX_ATOL = 1e-5  # onnxruntime computes in float32


@dataclass(frozen=True)
class Case:
    """A fitted classifier, what to save for it, and its data."""

    id: str
    build: Callable[[], tuple[Any, object]]  # -> (fitted estimator, object to save)
    data: tuple[pd.DataFrame, pd.Series]
    atol: float = 1e-10
    flavor: str | None = None


def logistic(X: pd.DataFrame, y: Any) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


def sklearn_binary() -> tuple[Any, object]:
    model = logistic(*BINARY)
    return model, model


def sklearn_multiclass_strings() -> tuple[Any, object]:
    model = logistic(IRIS[0], IRIS_NAMES[IRIS[1]])
    return model, model


def xgboost_binary() -> tuple[Any, object]:
    import xgboost

    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(*BINARY)
    return model, model


def xgboost_multiclass() -> tuple[Any, object]:
    import xgboost

    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(*IRIS)
    return model, model


def lightgbm_binary_strings() -> tuple[Any, object]:
    import lightgbm

    labels = np.where(BINARY[1] == 1, "benign", "malignant")
    model = lightgbm.LGBMClassifier(n_estimators=10, random_state=0, verbose=-1)
    return model.fit(BINARY[0], labels), model


def lightgbm_multiclass() -> tuple[Any, object]:
    import lightgbm

    model = lightgbm.LGBMClassifier(n_estimators=10, random_state=0, verbose=-1)
    return model.fit(*IRIS), model


def onnx_binary() -> tuple[Any, object]:
    model = logistic(*BINARY)
    return model, convert_sklearn(model, BINARY[0].head())


def onnx_multiclass_zipmap() -> tuple[Any, object]:
    """skl2onnx's default output: one {label: probability} map per row (ZipMap)."""
    model = logistic(IRIS[0], IRIS_NAMES[IRIS[1]])
    proto = skl2onnx.convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 4]))])
    return model, proto


class Thresholded:
    """Custom code (pyfunc) that exposes its inner model's probabilities and classes."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = model.classes_

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X))


def pyfunc_binary() -> tuple[Any, object]:
    model = logistic(*BINARY)
    return model, Thresholded(model)


CASES = [
    Case("sklearn-binary", sklearn_binary, BINARY),
    Case("sklearn-multiclass-strings", sklearn_multiclass_strings, IRIS),
    Case("xgboost-binary", xgboost_binary, BINARY, atol=1e-6),
    Case("xgboost-multiclass", xgboost_multiclass, IRIS, atol=1e-6),
    Case("lightgbm-binary-strings", lightgbm_binary_strings, BINARY),
    Case("lightgbm-multiclass", lightgbm_multiclass, IRIS),
    Case("onnx-binary", onnx_binary, BINARY, atol=ONNX_ATOL),
    Case("onnx-multiclass-zipmap", onnx_multiclass_zipmap, IRIS, atol=ONNX_ATOL),
    Case("pyfunc-binary", pyfunc_binary, BINARY, flavor="pyfunc"),
]


@dataclass(frozen=True)
class Saved:
    case: Case
    estimator: Any
    loaded: LoadedModel


@pytest.fixture(scope="module", params=CASES, ids=[case.id for case in CASES])
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    case: Case = request.param
    estimator, model = case.build()
    directory = tmp_path_factory.mktemp(case.id) / "model"
    save_model(model, directory, flavor=case.flavor, input_example=case.data[0].head(5))
    return Saved(case, estimator, load_model_dir(directory, trusted=case.flavor == "pyfunc"))


def test_probabilities_match_the_original_estimator(saved: Saved) -> None:
    X = saved.case.data[0]
    proba = saved.loaded.predict_proba(X)
    assert proba is not None
    expected = saved.estimator.predict_proba(X)
    assert proba.shape == expected.shape
    np.testing.assert_allclose(proba, expected, atol=saved.case.atol, rtol=0)


def test_classes_name_the_probability_columns_in_order(saved: Saved) -> None:
    assert saved.loaded.classes() == saved.estimator.classes_.tolist()


def test_the_most_probable_class_is_the_predicted_label(saved: Saved) -> None:
    X = saved.case.data[0]
    proba = saved.loaded.predict_proba(X)
    classes = saved.loaded.classes()
    assert proba is not None
    assert classes is not None
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    agree = predicted.astype(str) == saved.loaded.predict(X).astype(str)
    assert agree.mean() > 0.99  # float32 ONNX may flip a row sitting exactly on 0.5


def test_probabilities_go_through_the_signature_like_predict(saved: Saved) -> None:
    X = saved.case.data[0]
    shuffled = X[list(reversed(X.columns))].assign(unrelated=1.0)
    proba, expected = saved.loaded.predict_proba(shuffled), saved.loaded.predict_proba(X)
    assert proba is not None
    assert expected is not None
    np.testing.assert_array_equal(proba, expected)


def save_and_load(model: object, tmp_path: Path, X: pd.DataFrame) -> LoadedModel:
    save_model(model, tmp_path / "model", input_example=X.head(5))
    return load_model_dir(tmp_path / "model")


def test_a_regressor_has_no_probabilities(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    loaded = save_and_load(LinearRegression().fit(X, y), tmp_path, X)
    assert loaded.predict_proba(X) is None
    assert loaded.classes() is None


def test_an_onnx_regressor_has_no_probabilities(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    loaded = save_and_load(convert_sklearn(LinearRegression().fit(X, y), X.head()), tmp_path, X)
    assert loaded.predict_proba(X) is None
    assert loaded.classes() is None


def test_a_classifier_without_probabilities_has_none_but_knows_its_classes(
    tmp_path: Path,
) -> None:
    X, y = BINARY
    loaded = save_and_load(RidgeClassifier().fit(X, y), tmp_path, X)
    assert loaded.predict_proba(X) is None
    assert loaded.classes() == [0, 1]


def test_an_xgboost_regressor_has_no_probabilities(tmp_path: Path) -> None:
    import xgboost

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    loaded = save_and_load(xgboost.XGBRegressor(n_estimators=5).fit(X, y), tmp_path, X)
    assert loaded.predict_proba(X) is None
    assert loaded.classes() is None
