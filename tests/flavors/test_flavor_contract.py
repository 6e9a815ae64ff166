"""The model-flavor contract: one suite, run for every flavor on the same data.

Each case fits a small model on scikit-learn's bundled data (breast cancer for
classification, diabetes for regression), saves it with an input example and reference
data, and then every test checks one promise of the model directory. Predictions are read
back in a fresh interpreter, so nothing can lean on state left in this process.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import operator
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from conveyor.errors import ModelError, UntrustedModel
from conveyor.flavors import FLAVORS, flavor_for, get_flavor
from conveyor.flavors.onnx import convert_sklearn
from conveyor.flavors.sklearn_trust import conveyor_trusted
from conveyor.modelpack import ModelInfo, Spec, load_model_dir, save_model

HAS_TORCH = importlib.util.find_spec("torch") is not None
REFERENCE_ROWS = 50


@dataclass(frozen=True)
class Data:
    """A seeded train/test split of one bundled data set."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def split(loader: Callable[..., Any]) -> Data:
    X, y = loader(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    return Data(X_train, X_test, y_train, y_test)


DATA = {"classification": split(load_breast_cancer), "regression": split(load_diabetes)}


# --- one builder per case: (model to save, what the in-process model predicts on X_test) ---


def scaled_logistic(data: Data) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        data.X_train, data.y_train
    )


def sklearn_classifier(data: Data) -> tuple[object, np.ndarray]:
    model = scaled_logistic(data)
    return model, model.predict(data.X_test)


def sklearn_regressor(data: Data) -> tuple[object, np.ndarray]:
    model = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)
    model.fit(data.X_train, data.y_train)
    return model, model.predict(data.X_test)


def xgboost_model(kind: str) -> Callable[[Data], tuple[object, np.ndarray]]:
    def build(data: Data) -> tuple[object, np.ndarray]:
        import xgboost

        model = getattr(xgboost, kind)(n_estimators=10, max_depth=3, random_state=0)
        model.fit(data.X_train, data.y_train)
        return model, model.predict(data.X_test)

    return build


def lightgbm_classifier(data: Data) -> tuple[object, np.ndarray]:
    import lightgbm

    labels = np.where(data.y_train == 1, "benign", "malignant")  # labels are mapped back
    model = lightgbm.LGBMClassifier(n_estimators=10, random_state=0, verbose=-1)
    model.fit(data.X_train, labels)
    return model, model.predict(data.X_test)


def lightgbm_regressor(data: Data) -> tuple[object, np.ndarray]:
    import lightgbm

    model = lightgbm.LGBMRegressor(n_estimators=10, random_state=0, verbose=-1)
    model.fit(data.X_train, data.y_train)
    return model, model.predict(data.X_test)


def onnx_classifier(data: Data) -> tuple[object, np.ndarray]:
    model = scaled_logistic(data)
    return convert_sklearn(model, data.X_train.head()), model.predict(data.X_test)


def onnx_regressor(data: Data) -> tuple[object, np.ndarray]:
    model = make_pipeline(StandardScaler(), Ridge()).fit(data.X_train, data.y_train)
    expected = model.predict(data.X_test).reshape(-1, 1)  # skl2onnx's graph answers a column
    return convert_sklearn(model, data.X_train.head()), expected


def torch_model(classify: bool) -> Callable[[Data], tuple[object, np.ndarray]]:
    """A linear torch module with weights fitted by scikit-learn (no training loop)."""

    def build(data: Data) -> tuple[object, np.ndarray]:
        import torch

        estimator = LogisticRegression(max_iter=1000) if classify else LinearRegression()
        scaler = StandardScaler().fit(data.X_train)
        estimator.fit(scaler.transform(data.X_train), data.y_train)
        module = ScaledLinear(scaler, estimator, classify)
        with torch.inference_mode():
            expected = module(torch.tensor(data.X_test.to_numpy(np.float32))).numpy()
        return module, expected

    return build


def pyfunc_model(data: Data) -> tuple[object, np.ndarray]:
    class Cautious:  # local, so cloudpickle carries it by value into the fresh process
        """Flags a tumour as malignant (0) unless the model is 70 % sure it is benign."""

        def __init__(self, model: Any) -> None:
            self.model = model

        def predict(self, X: Any) -> np.ndarray:
            return (self.model.predict_proba(X)[:, 1] > 0.7).astype(np.int64)

    model = Cautious(scaled_logistic(data))
    return model, model.predict(data.X_test)


if HAS_TORCH:
    import torch

    class ScaledLinear(torch.nn.Module):
        """Standardise, then a linear layer; a classifier answers 0/1 labels."""

        def __init__(self, scaler: StandardScaler, estimator: Any, classify: bool) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(scaler.mean_, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(scaler.scale_, dtype=torch.float32))
            self.linear = torch.nn.Linear(len(scaler.mean_), 1)
            with torch.no_grad():
                self.linear.weight.copy_(torch.tensor(estimator.coef_.reshape(1, -1)))
                self.linear.bias.copy_(torch.tensor(np.ravel(estimator.intercept_)))
            self.classify = classify

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.linear((x - self.mean) / self.scale)
            return (out.squeeze(-1) > 0).long() if self.classify else out


@dataclass(frozen=True)
class Case:
    """One flavor on one task."""

    flavor: str
    task: str
    build: Callable[[Data], tuple[object, np.ndarray]]
    distributions: tuple[str, ...]
    rtol: float = 1e-7  # for float outputs; labels must match exactly
    trusted: bool = False

    @property
    def id(self) -> str:
        return f"{self.flavor}-{self.task}"


def xgboost_distribution() -> str:
    """xgboost, or its CPU-only build xgboost-cpu (what the models extra installs on Linux)."""
    try:
        importlib.metadata.version("xgboost")
    except importlib.metadata.PackageNotFoundError:
        return "xgboost-cpu"
    return "xgboost"


ONNX_RTOL = 1e-4  # onnxruntime computes in float32
CASES = [
    Case("sklearn", "classification", sklearn_classifier, ("scikit-learn", "skops")),
    Case("sklearn", "regression", sklearn_regressor, ("scikit-learn", "skops")),
    Case("xgboost", "classification", xgboost_model("XGBClassifier"), (xgboost_distribution(),)),
    Case("xgboost", "regression", xgboost_model("XGBRegressor"), (xgboost_distribution(),)),
    Case("lightgbm", "classification", lightgbm_classifier, ("lightgbm",)),
    Case("lightgbm", "regression", lightgbm_regressor, ("lightgbm",)),
    Case("onnx", "classification", onnx_classifier, ("onnxruntime",), rtol=ONNX_RTOL),
    Case("onnx", "regression", onnx_regressor, ("onnxruntime",), rtol=ONNX_RTOL),
    Case("torch", "classification", torch_model(classify=True), ("torch",), rtol=1e-5),
    Case("torch", "regression", torch_model(classify=False), ("torch",), rtol=1e-5),
    Case("pyfunc", "classification", pyfunc_model, ("cloudpickle",), trusted=True),
]
NO_TORCH = pytest.mark.skipif(not HAS_TORCH, reason="torch (the optional extra) is not installed")
PARAMS = [
    pytest.param(case, id=case.id, marks=[NO_TORCH] if case.flavor == "torch" else [])
    for case in CASES
]


@dataclass(frozen=True)
class Saved:
    """A case's model, saved, with what the in-process model predicted."""

    case: Case
    data: Data
    model: object
    expected: np.ndarray
    directory: Path
    info: ModelInfo


@pytest.fixture(scope="module", params=PARAMS)
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    case: Case = request.param
    data = DATA[case.task]
    model, expected = case.build(data)
    directory = tmp_path_factory.mktemp(case.id) / "model"
    info = save_model(
        model,
        directory,
        flavor="pyfunc" if case.flavor == "pyfunc" else None,
        input_example=data.X_train.head(5),
        reference_data=data.X_train,
        reference_rows=REFERENCE_ROWS,
    )
    return Saved(case, data, model, expected, directory, info)


PREDICT_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pandas as pd
    from conveyor.modelpack import load_model_dir

    directory, rows, out, trusted = sys.argv[1:]
    predictions = load_model_dir(directory, trusted=trusted == "1").predict(pd.read_parquet(rows))
    if predictions.dtype == object:
        predictions = predictions.astype(str)
    np.save(out, predictions, allow_pickle=False)
    """
)


def predict_in_fresh_process(saved: Saved, tmp_path: Path) -> np.ndarray:
    rows, out = tmp_path / "rows.parquet", tmp_path / "predictions.npy"
    saved.data.X_test.to_parquet(rows)
    trusted = "1" if saved.case.trusted else "0"
    command = [sys.executable, "-W", "error", "-c", PREDICT_IN_FRESH_PROCESS]
    subprocess.run([*command, str(saved.directory), str(rows), str(out), trusted], check=True)
    return np.load(out, allow_pickle=False)


def test_a_fresh_process_predicts_what_the_model_predicted(saved: Saved, tmp_path: Path) -> None:
    predictions = predict_in_fresh_process(saved, tmp_path)
    expected = saved.expected
    assert predictions.shape == expected.shape
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(predictions, expected, rtol=saved.case.rtol)
    else:
        np.testing.assert_array_equal(predictions, expected.astype(predictions.dtype))


def test_the_saved_flavor_is_the_one_asked_for(saved: Saved) -> None:
    assert saved.info.flavor == saved.case.flavor
    manifest = json.loads((saved.directory / "conveyor-model.json").read_text())
    assert manifest == saved.info.as_dict()
    assert manifest["format"] == 1
    assert manifest["python"] == ".".join(map(str, sys.version_info[:3]))
    assert sorted(p.name for p in saved.directory.iterdir()) == [
        "conveyor-model.json",
        "example_output.json",
        "input_example.json",
        "model",
        "reference-profile.json",
        "reference.parquet",
        "requirements.txt",
    ]


def test_the_reference_is_profiled_with_the_models_predictions(saved: Saved) -> None:
    from conveyor.monitoring.profile import load_profile

    profile = load_profile(saved.directory)
    assert profile is not None
    assert profile.prediction is not None, profile.prediction_note
    assert profile.names == [str(c) for c in saved.data.X_train.columns][:100]
    assert profile.rows == REFERENCE_ROWS
    assert profile.prediction.reference.shares.rows == REFERENCE_ROWS
    assert saved.info.reference_profile == "reference-profile.json"


def test_the_signature_is_inferred_from_the_input_example(saved: Saved) -> None:
    signature = saved.info.signature
    assert signature is not None
    columns = saved.data.X_train.columns
    assert signature.inputs == tuple(Spec(name, "float64") for name in columns)
    loaded = load_model_dir(saved.directory, trusted=True)
    assert loaded.signature == signature
    answer = loaded.predict(saved.data.X_test)  # the saved model's own output dtype and shape
    assert signature.outputs == (Spec(None, str(answer.dtype), (-1, *answer.shape[1:])),)


def test_requirements_pin_the_installed_versions(saved: Saved) -> None:
    lines = (saved.directory / "requirements.txt").read_text().splitlines()
    for name in (*saved.case.distributions, "numpy", "pandas"):
        version = importlib.metadata.version(name)
        assert saved.info.requirements[name] == version
        assert f"{name}=={version}" in lines
    assert lines == sorted(lines)


def test_reference_data_is_a_sample_of_the_training_rows(saved: Saved) -> None:
    reference = pd.read_parquet(saved.directory / "reference.parquet")
    training = saved.data.X_train
    assert saved.info.reference_rows == REFERENCE_ROWS
    assert reference.shape == (REFERENCE_ROWS, training.shape[1])
    assert list(reference.columns) == list(training.columns)
    assert (reference.dtypes == training.dtypes).all()
    rows = set(map(tuple, training.to_numpy()))
    assert all(tuple(row) in rows for row in reference.to_numpy())
    assert len(set(map(tuple, reference.to_numpy()))) == REFERENCE_ROWS


def test_the_input_example_reads_back(saved: Saved) -> None:
    example = load_model_dir(saved.directory, trusted=True).input_example()
    pd.testing.assert_frame_equal(example, saved.data.X_train.head(5).reset_index(drop=True))


def test_the_flavor_is_found_from_the_model_type(saved: Saved) -> None:
    if saved.case.flavor == "pyfunc":
        with pytest.raises(ModelError, match="pyfunc"):
            flavor_for(saved.model)
    else:
        assert flavor_for(saved.model).name == saved.case.flavor


def test_another_flavor_refuses_the_model(saved: Saved, tmp_path: Path) -> None:
    other = next(f for f in FLAVORS if f.name not in (saved.case.flavor, "pyfunc"))
    with pytest.raises(ModelError, match=f"the {other.name} flavor cannot save"):
        save_model(saved.model, tmp_path / "model", flavor=other.name)
    assert list(tmp_path.iterdir()) == []


# --- what each flavor refuses ------------------------------------------------------------


def test_no_flavor_for_a_plain_object_suggests_pyfunc() -> None:
    with pytest.raises(ModelError, match=r"no model flavor can save a builtins\.object") as caught:
        flavor_for(object())
    assert "flavor='pyfunc'" in str(caught.value)


def test_an_unknown_flavor_name_gets_a_suggestion() -> None:
    with pytest.raises(ModelError, match="unknown model flavor 'sklern'") as caught:
        get_flavor("sklern")
    assert "did you mean 'sklearn'?" in str(caught.value)


def test_a_pyfunc_model_loads_only_when_trusted(tmp_path: Path) -> None:
    model, expected = pyfunc_model(DATA["classification"])
    save_model(model, tmp_path / "model", flavor="pyfunc")
    with pytest.raises(UntrustedModel, match="unpickles arbitrary code") as caught:
        load_model_dir(tmp_path / "model")
    assert "trusted=True" in str(caught.value)
    loaded = load_model_dir(tmp_path / "model", trusted=True)
    np.testing.assert_array_equal(loaded.predict(DATA["classification"].X_test), expected)


def test_pyfunc_needs_a_predict_method(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="pyfunc flavor cannot save a object") as caught:
        save_model(object(), tmp_path / "model", flavor="pyfunc")
    assert "predict(data) method" in str(caught.value)


def test_sklearn_refuses_to_save_types_outside_the_allow_list(tmp_path: Path) -> None:
    model = FunctionTransformer(func=operator.attrgetter)
    with pytest.raises(ModelError, match=r"operator\.attrgetter") as caught:
        save_model(model, tmp_path / "model")
    assert "pyfunc" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_sklearn_refuses_to_load_a_file_with_a_disallowed_type(tmp_path: Path) -> None:
    data = DATA["classification"]
    save_model(scaled_logistic(data), tmp_path / "model")
    tampered = make_pipeline(FunctionTransformer(func=operator.attrgetter), LogisticRegression())
    skops.io.dump(tampered, tmp_path / "model" / "model" / "model.skops")
    with pytest.raises(UntrustedModel, match=r"refusing to load it") as caught:
        load_model_dir(tmp_path / "model")
    assert "operator.attrgetter" in str(caught.value)
    assert "trusted=['operator.attrgetter']" in str(caught.value)
    assert load_model_dir(tmp_path / "model", trusted=["operator.attrgetter"]).predictor
    assert load_model_dir(tmp_path / "model", trusted=True).predictor is not None


def test_the_sklearn_trusted_set_names_types_and_pure_functions_never_a_prefix() -> None:
    trusted = conveyor_trusted()
    assert "sklearn.tree._tree.Tree" in trusted
    assert not {"numpy.testing.runstring", "builtins.eval", "builtins.exec"} & trusted
    assert not [name for name in trusted if name.endswith(".")]


@NO_TORCH
def test_a_torch_module_needs_an_input_example(tmp_path: Path) -> None:
    import torch

    with pytest.raises(ModelError, match="needs an input_example"):
        save_model(torch.nn.Linear(3, 1), tmp_path / "model")


def test_asking_which_flavor_imports_no_model_library() -> None:
    code = """
        import sys
        from conveyor.flavors import get_flavor, FLAVORS
        import conveyor.modelpack
        assert not any(flavor.handles(object()) for flavor in FLAVORS if flavor.name != "pyfunc")
        heavy = {"pandas", "sklearn", "xgboost", "lightgbm", "onnx", "onnxruntime", "torch"}
        print(sorted(heavy & set(sys.modules)))
    """
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "[]"
