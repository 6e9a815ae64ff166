"""The model directory: what save_model writes, what load_model_dir refuses, signatures."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from conveyor.errors import ConflictError, ModelError
from conveyor.modelpack import (
    LoadedModel,
    Signature,
    Spec,
    infer_signature,
    load_model_dir,
    save_model,
)

X, y = load_diabetes(return_X_y=True, as_frame=True)
MODEL = LinearRegression().fit(X, y)


def save(directory: Path, **options: Any) -> LoadedModel:
    save_model(MODEL, directory, **options)
    return load_model_dir(directory)


# --- loading refuses what is not a model directory ------------------------------------


def test_a_directory_without_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is not a Conveyor model directory") as caught:
        load_model_dir(tmp_path)
    assert str(tmp_path / "conveyor-model.json") in str(caught.value)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model_dir(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"flavor": "sklearn"}', "lacks the key 'format'"),
        ('{"format": 2, "flavor": "sklearn"}', "has format 2; this Conveyor reads format 1"),
        ('{"format": "1"}', "'format' has the wrong type"),
        ('{"format": 1, "flavor": "sklern"}', "unknown model flavor 'sklern'"),
        ('{"format": 1, "flavor": "sklearn", "signature": 3}', "'signature' has the wrong type"),
    ],
)
def test_a_corrupt_manifest_is_refused(tmp_path: Path, manifest: str, message: str) -> None:
    save_model(MODEL, tmp_path / "model")
    path = tmp_path / "model" / "conveyor-model.json"
    path.write_text(manifest)
    with pytest.raises(ModelError, match=message) as caught:
        load_model_dir(tmp_path / "model")
    assert str(path) in str(caught.value)


def test_a_newer_format_says_to_upgrade(tmp_path: Path) -> None:
    save_model(MODEL, tmp_path / "model")
    path = tmp_path / "model" / "conveyor-model.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 2}))
    with pytest.raises(ModelError, match="upgrade conveyor-ml"):
        load_model_dir(tmp_path / "model")


def test_a_manifest_cannot_point_outside_the_directory(tmp_path: Path) -> None:
    save_model(MODEL, tmp_path / "model", reference_data=X)
    path = tmp_path / "model" / "conveyor-model.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "reference_data": "../x"}))
    with pytest.raises(ModelError, match=r"'reference_data' must be 'reference\.parquet'"):
        load_model_dir(tmp_path / "model")


def test_missing_model_files_are_a_model_error(tmp_path: Path) -> None:
    save_model(MODEL, tmp_path / "model")
    (tmp_path / "model" / "model" / "model.skops").unlink()
    with pytest.raises(ModelError, match="loading the sklearn model failed"):
        load_model_dir(tmp_path / "model")


# --- saving is all or nothing -------------------------------------------------------------


def test_saving_into_a_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "keep.txt").write_text("mine")
    with pytest.raises(ConflictError, match="already exists"):
        save_model(MODEL, tmp_path / "model")
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["keep.txt"]


def test_saving_into_an_empty_directory_fills_it(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    save_model(MODEL, tmp_path / "model")
    assert (tmp_path / "model" / "conveyor-model.json").is_file()


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="reference_data must be a pandas DataFrame"):
        save_model(MODEL, tmp_path / "model", reference_data=[[1, 2]])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_cannot_predict_its_example_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="predicting the input_example") as caught:
        save_model(MODEL, tmp_path / "model", input_example=X.iloc[:3, :4])
    assert "Feature names seen at fit time, yet now missing" in str(caught.value)  # sklearn's
    assert f"({tmp_path / 'model'})" in str(caught.value)  # the target, not the temporary name
    assert list(tmp_path.iterdir()) == []


def test_reference_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="reference_rows must be at least 1"):
        save_model(MODEL, tmp_path / "model", reference_data=X, reference_rows=0)


# --- reference data and input examples ---------------------------------------------------


def test_the_reference_sample_is_seeded(tmp_path: Path) -> None:
    first = save(tmp_path / "a", reference_data=X, reference_rows=40).reference_data()
    second = save(tmp_path / "b", reference_data=X, reference_rows=40).reference_data()
    assert first is not None
    assert len(first) == 40
    pd.testing.assert_frame_equal(first, second)


def test_small_reference_data_is_kept_whole(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model", reference_data=X.head(30), reference_rows=100)
    assert loaded.info.reference_rows == 30
    reference = loaded.reference_data()
    assert reference is not None
    pd.testing.assert_frame_equal(reference, X.head(30).reset_index(drop=True))


def test_an_array_reference_gets_numbered_columns(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model", reference_data=X.to_numpy()[:20])
    reference = loaded.reference_data()
    assert reference is not None
    assert list(reference.columns) == [str(i) for i in range(X.shape[1])]
    np.testing.assert_array_equal(reference.to_numpy(), X.to_numpy()[:20])


def test_without_extras_the_manifest_says_so(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model")
    assert loaded.info.signature is None
    assert loaded.info.input_example is None
    assert loaded.info.reference_data is None
    assert loaded.input_example() is None
    assert loaded.reference_data() is None
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "conveyor-model.json",
        "model",
        "requirements.txt",
    ]


def test_an_array_example_gives_a_tensor_signature(tmp_path: Path) -> None:
    example = X.to_numpy(np.float32)[:4]
    save_model(
        LinearRegression().fit(X.to_numpy(np.float32), y), tmp_path / "m", input_example=example
    )
    loaded = load_model_dir(tmp_path / "m")
    assert loaded.signature == Signature(
        inputs=(Spec(None, "float32", (-1, X.shape[1])),),
        outputs=(Spec(None, "float32", (-1,)),),
    )
    assert json.loads((tmp_path / "m" / "input_example.json").read_text()) == example.tolist()
    np.testing.assert_array_equal(loaded.input_example(), example)


def test_the_input_example_keeps_its_dtypes(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, None], "ok": [True, False], "s": ["a", "b"]})
    model = FixedAnswer()
    save_model(model, tmp_path / "model", flavor="pyfunc", input_example=frame)
    example = load_model_dir(tmp_path / "model", trusted=True).input_example()
    pd.testing.assert_frame_equal(example, frame)


class FixedAnswer:
    """A custom model for the pyfunc flavor."""

    def predict(self, data: Any) -> np.ndarray:
        return np.zeros(len(data))


def test_a_given_signature_is_kept(tmp_path: Path) -> None:
    signature = Signature(inputs=tuple(Spec(str(c), "float64") for c in X.columns))
    loaded = save(tmp_path / "model", signature=signature, input_example=X.head(2))
    assert loaded.signature == signature


# --- predict takes columns by name ---------------------------------------------------------


def test_columns_are_matched_by_name(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model", input_example=X.head(2))
    shuffled = X[list(reversed(X.columns))].assign(extra=1.0)
    np.testing.assert_allclose(loaded.predict(shuffled), MODEL.predict(X))


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model", input_example=X.head(2))
    with pytest.raises(ModelError, match=r"lacks 1 column\(s\) .*\['bmi'\]"):
        loaded.predict(X.drop(columns="bmi"))


def test_an_array_gets_the_signature_column_names(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model", input_example=X.head(2))
    np.testing.assert_allclose(loaded.predict(X.to_numpy()), MODEL.predict(X))


def test_a_library_error_in_predict_is_a_model_error(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model")
    with pytest.raises(ModelError, match="predicting failed"):
        loaded.predict(np.ones((2, 3)))


# --- signatures ---------------------------------------------------------------------------

KINDS: dict[str, st.SearchStrategy[Any]] = {
    "int64": st.integers(-(2**62), 2**62),
    "float64": st.floats(allow_nan=True, allow_infinity=True),
    "bool": st.booleans(),
    "str": st.text(string.printable, max_size=8),
}
STRING_DTYPES = {"str", "object", "string"}  # pandas 3 names its default string dtype "str"


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, list[str]]:
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True))
    kinds = [draw(st.sampled_from(sorted(KINDS))) for _ in names]
    rows = draw(st.integers(1, 6))
    columns = {
        name: draw(st.lists(KINDS[kind], min_size=rows, max_size=rows))
        for name, kind in zip(names, kinds, strict=True)
    }
    return pd.DataFrame(columns), kinds


@given(frames())
def test_infer_signature_lists_every_column_with_its_dtype(
    frame_and_kinds: tuple[pd.DataFrame, list[str]],
) -> None:
    frame, kinds = frame_and_kinds
    signature = infer_signature(frame)
    assert [spec.name for spec in signature.inputs] == list(frame.columns)
    for spec, kind, (_, dtype) in zip(signature.inputs, kinds, frame.dtypes.items(), strict=True):
        assert spec.dtype == str(dtype)
        assert spec.shape is None
        assert spec.dtype in STRING_DTYPES if kind == "str" else spec.dtype == kind
    assert signature.outputs == ()
    round_trip = json.loads(json.dumps(signature.as_dict()))
    assert Signature.from_dict(round_trip, "here") == signature


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=3),
    st.sampled_from(["float32", "float64", "int64", "bool"]),
)
def test_infer_signature_gives_a_tensor_spec_for_arrays(shape: list[int], dtype: str) -> None:
    array = np.zeros(shape, dtype=dtype)
    signature = infer_signature(array, output=array.reshape(shape[0], -1)[:, 0])
    assert signature.inputs == (Spec(None, dtype, (-1, *shape[1:])),)
    assert signature.outputs == (Spec(None, dtype, (-1,)),)


@pytest.mark.parametrize("bad", [[1, 2], {"a": [1]}, 3.0, np.float64(1.0)])
def test_infer_signature_refuses_other_inputs(bad: Any) -> None:
    with pytest.raises(ModelError, match="must be a pandas DataFrame or a numpy array"):
        infer_signature(bad)


@pytest.mark.parametrize(
    "bad",
    [None, [], {"inputs": "x"}, {"inputs": [{"name": 1, "dtype": "f"}]}, {"inputs": [{}]}],
)
def test_a_malformed_signature_is_refused(bad: Any) -> None:
    with pytest.raises(ModelError, match="here"):
        Signature.from_dict(bad, "here")


def test_a_column_with_a_missing_value_in_the_example_is_optional() -> None:
    example = pd.DataFrame({"a": [1.0, np.nan], "b": [1.0, 2.0], "c": ["x", None]})
    signature = infer_signature(example)
    assert [spec.optional for spec in signature.inputs] == [True, False, True]
    written = signature.as_dict()
    assert "optional" not in written["inputs"][1]  # files of models without gaps unchanged
    assert Signature.from_dict(written, "model.json") == signature


# --- the example's outputs, recorded for the pre-traffic smoke test -------------------


def test_the_example_outputs_are_recorded_at_save_time(tmp_path: Path) -> None:
    loaded = save(tmp_path / "model", input_example=X.head(4))
    manifest = json.loads((tmp_path / "model" / "conveyor-model.json").read_text())
    assert manifest["example_output"] == "example_output.json"
    recorded = loaded.example_output()
    assert recorded is not None
    assert recorded.dtype == np.float64
    np.testing.assert_allclose(recorded, MODEL.predict(X.head(4)), rtol=1e-9)


def test_a_directory_saved_before_example_outputs_still_loads(tmp_path: Path) -> None:
    save(tmp_path / "model", input_example=X.head(2))
    manifest_path = tmp_path / "model" / "conveyor-model.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["example_output"]  # as written by earlier Conveyor versions
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "model" / "example_output.json").unlink()
    loaded = load_model_dir(tmp_path / "model")
    assert loaded.info.example_output is None
    assert loaded.example_output() is None
    assert loaded.input_example() is not None


def test_a_given_signature_records_no_example_outputs(tmp_path: Path) -> None:
    signature = infer_signature(X.head(2), MODEL.predict(X.head(2)))
    loaded = save(tmp_path / "model", signature=signature, input_example=X.head(2))
    assert loaded.example_output() is None  # save_model made no prediction to record


def test_the_reference_is_profiled_with_the_saved_models_predictions(tmp_path: Path) -> None:
    from conveyor.monitoring.profile import PREDICTION, load_profile

    loaded = save(tmp_path / "model", reference_data=X, input_example=X.head(3))
    profile = load_profile(tmp_path / "model")
    assert loaded.info.reference_profile == "reference-profile.json"
    assert profile is not None
    assert profile.names == list(X.columns)
    assert profile.prediction is not None
    assert profile.prediction.name == PREDICTION
    assert profile.prediction.kind == "numeric"  # a regressor's outputs


def test_an_array_reference_is_predicted_as_an_array(tmp_path: Path) -> None:
    from conveyor.monitoring.profile import load_profile

    model = LinearRegression().fit(X.to_numpy(), y)  # no feature names: no warning either
    save_model(model, tmp_path / "model", reference_data=X.to_numpy()[:50])
    profile = load_profile(tmp_path / "model")
    assert profile is not None
    assert profile.prediction is not None, profile.prediction_note


def test_a_model_that_cannot_predict_its_reference_still_gets_an_inputs_profile(
    tmp_path: Path,
) -> None:
    from conveyor.monitoring.profile import load_profile

    wrong = X.assign(extra=1.0)[["extra"]]  # not the model's columns
    save_model(MODEL, tmp_path / "model", reference_data=wrong)
    profile = load_profile(tmp_path / "model")
    assert profile is not None
    assert profile.names == ["extra"]
    assert profile.prediction is None
    assert "could not predict its reference data" in profile.prediction_note


def test_a_directory_saved_before_profiles_gets_one_built_on_demand(tmp_path: Path) -> None:
    from conveyor.monitoring.profile import load_profile

    save(tmp_path / "model", reference_data=X.head(200))
    (tmp_path / "model" / "reference-profile.json").unlink()
    profile = load_profile(tmp_path / "model")
    assert profile is not None
    assert profile.names == list(X.columns)
    assert profile.prediction is None
    assert "built from reference.parquet" in profile.prediction_note
    assert load_profile(tmp_path / "nothing-here") is None
