"""What loading a scikit-learn model trusts: data types only, never a callable that runs code.

Each attack is a real skops file as an attacker would write it (see ``crafted_models``):
a fitted estimator that predicts normally and carries one attribute that runs code on load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import conveyor as cv
from conveyor.errors import ModelError, UntrustedModel
from conveyor.modelpack import load_model_dir, save_model
from crafted_models import RUNSTRING, log_crafted, plant_code

FEATURES, TARGET = load_breast_cancer(return_X_y=True, as_frame=True)


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A saved model directory whose skops file plants code; (directory, marker, expected)."""
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(FEATURES, TARGET)
    directory, marker = tmp_path / "model", tmp_path / "pwned"
    save_model(model, directory, input_example=FEATURES.head(3))
    plant_code(model, directory / "model" / "model.skops", marker)
    return directory, marker, model.predict(FEATURES)


def test_a_planted_callable_is_refused_by_name_and_never_runs(crafted) -> None:
    directory, marker, _ = crafted
    with pytest.raises(UntrustedModel, match=RUNSTRING) as caught:
        load_model_dir(directory)
    assert not marker.exists()
    assert "trusted=" in str(caught.value)


def test_trusting_the_type_by_name_loads_it(crafted) -> None:
    directory, marker, expected = crafted
    loaded = load_model_dir(directory, trusted=[RUNSTRING])
    assert marker.exists()  # the user asked for exactly this type, and got it
    np.testing.assert_array_equal(loaded.predict(FEATURES), expected)


def test_cv_load_model_refuses_a_logged_model_that_plants_code(
    crafted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, marker, _ = crafted
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text("stages:\n  s: {cmd: 'true'}\n", encoding="utf-8")
    for var in ("CONVEYOR_DB_URL", "CONVEYOR_ARTIFACTS", "CONVEYOR_PROJECT_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(project)
    logged = log_crafted(directory)
    with pytest.raises(UntrustedModel, match=RUNSTRING):
        cv.load_model(logged.uri)
    assert not marker.exists()


def test_common_models_load_without_trusting_anything(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_selection import SelectKBest
    from sklearn.impute import SimpleImputer
    from sklearn.neighbors import KNeighborsClassifier

    models = {
        "forest": RandomForestClassifier(n_estimators=3, random_state=0),
        "boosting": HistGradientBoostingClassifier(max_iter=3),
        "imputed": make_pipeline(SimpleImputer(), SelectKBest(k=5), KNeighborsClassifier()),
    }
    for name, model in models.items():
        model.fit(FEATURES, TARGET)
        save_model(model, tmp_path / name, input_example=FEATURES.head(3))
        loaded = load_model_dir(tmp_path / name)
        np.testing.assert_array_equal(loaded.predict(FEATURES), model.predict(FEATURES))


def test_saving_refuses_what_loading_would_refuse(tmp_path: Path) -> None:
    import numpy.testing

    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(FEATURES, TARGET)
    model.hook_ = numpy.testing.runstring  # an attribute that is a code-running callable
    with pytest.raises(ModelError, match="runstring"):
        save_model(model, tmp_path / "model", input_example=FEATURES.head(3))
    assert list(tmp_path.iterdir()) == []
