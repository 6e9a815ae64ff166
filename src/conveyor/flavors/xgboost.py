"""XGBoost models in XGBoost's own binary JSON format (UBJSON), never pickle.

Both the scikit-learn wrappers (``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``…) and a
plain ``Booster`` are saved with ``save_model("model.ubj")``. ``flavor.json`` beside it names
the class (the nearest one xgboost exports), so a classifier loads back as one and predicts
class labels (and probabilities), a regressor predicts values, and a Booster predicts what
``Booster.predict`` does (it has no ``predict_proba``: its output's meaning depends on the
objective).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conveyor.errors import ModelError
from conveyor.flavors.base import (
    Array,
    ModelInput,
    Predictor,
    Trust,
    as_array,
    first_installed,
    loaded,
    versions,
)

FILE = "model.ubj"
META = "flavor.json"


class _Booster:
    """A plain Booster: predicts through a DMatrix."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, data: ModelInput) -> Array:
        """``Booster.predict`` (probabilities for a logistic objective)."""
        import xgboost

        return as_array(self.booster.predict(xgboost.DMatrix(data)))


class _Wrapper:
    """A scikit-learn-style model: its ``predict`` gives labels or values."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: ModelInput) -> Array:
        """The model's own ``predict``."""
        return as_array(self.model.predict(data))

    def predict_proba(self, data: ModelInput) -> Array | None:
        """A classifier's ``predict_proba`` (one column per class); None for the others."""
        if not hasattr(self.model, "predict_proba"):
            return None
        return as_array(self.model.predict_proba(data))

    def classes(self) -> list[Any] | None:
        """A classifier's ``classes_`` (xgboost labels are always 0 … k-1)."""
        classes = getattr(self.model, "classes_", None)
        return None if classes is None else as_array(classes).tolist()


class XGBoostFlavor:
    """``xgboost.Booster`` and the scikit-learn wrappers around it."""

    name = "xgboost"

    def handles(self, model: object) -> bool:
        """True for a Booster or any ``XGBModel``."""
        xgboost = loaded("xgboost")
        return xgboost is not None and isinstance(model, xgboost.XGBModel | xgboost.Booster)

    def save(
        self, model: object, directory: Path, *, input_example: ModelInput | None = None
    ) -> None:
        """``save_model`` in UBJSON, plus which class to rebuild."""
        model.save_model(directory / FILE)  # type: ignore[attr-defined]
        (directory / META).write_text(json.dumps({"class": _public_class(model)}), encoding="utf-8")

    def load(self, directory: Path, *, trusted: Trust = False) -> Predictor:
        """Rebuild the saved class and ``load_model`` into it."""
        import xgboost

        kind = json.loads((directory / META).read_text(encoding="utf-8"))["class"]
        if kind == "Booster":
            return _Booster(xgboost.Booster(model_file=str(directory / FILE)))
        cls = getattr(xgboost, str(kind), None)
        if not (isinstance(cls, type) and issubclass(cls, xgboost.XGBModel)):
            raise ModelError(
                f"{directory / META} names {kind!r}, which is not an xgboost model class"
            )
        model = cls()
        model.load_model(directory / FILE)
        return _Wrapper(model)

    def requirements(self) -> dict[str, str]:
        """xgboost (or the CPU-only xgboost-cpu build, whichever is installed)."""
        return versions(first_installed("xgboost", "xgboost-cpu"))


def _public_class(model: object) -> str:
    """The nearest class of ``model`` that xgboost exports (a user subclass maps to its base)."""
    import xgboost

    for cls in type(model).__mro__:
        if cls.__module__.startswith("xgboost.") and getattr(xgboost, cls.__name__, None) is cls:
            return str(cls.__name__)
    raise AssertionError(f"{type(model)} is not an xgboost model")  # handles() said it was
