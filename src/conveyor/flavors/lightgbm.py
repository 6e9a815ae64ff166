"""LightGBM models in LightGBM's native text format, never pickle.

The booster is written with ``Booster.save_model("model.txt")`` and read back with
``lightgbm.Booster(model_file=...)``. A text booster only knows probabilities, so for a
classifier ``flavor.json`` keeps its ``classes_`` (values and dtype), and predict turns
probabilities back into those labels exactly as ``LGBMClassifier.predict`` does: the second
class where the binary probability is above 0.5, else the argmax. ``predict_proba`` gives the
probabilities as ``LGBMClassifier.predict_proba`` does, one column per class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conveyor.flavors.base import Array, ModelInput, Predictor, Trust, as_array, loaded, versions

FILE = "model.txt"
META = "flavor.json"


class _Booster:
    """Values (regression, ranking, raw Booster) straight from ``Booster.predict``."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, data: ModelInput) -> Array:
        """``Booster.predict``."""
        return as_array(self.booster.predict(data))


class _Classifier(_Booster):
    """Class labels, mapped back from the booster's probabilities."""

    def __init__(self, booster: Any, classes: Array) -> None:
        super().__init__(booster)
        self.classes_ = classes

    def predict(self, data: ModelInput) -> Array:
        """The label of the most probable class."""
        proba = super().predict(data)
        index = (proba > 0.5).astype(int) if proba.ndim == 1 else proba.argmax(axis=1)
        labels: Array = self.classes_[index]
        return labels

    def predict_proba(self, data: ModelInput) -> Array:
        """One column per class; a binary booster's P(second class) p becomes [1 - p, p]."""
        import numpy as np

        proba = super().predict(data)
        if proba.ndim == 1:
            proba = np.column_stack([1.0 - proba, proba])
        return proba

    def classes(self) -> list[Any]:
        """The classifier's ``classes_`` as saved."""
        labels: list[Any] = self.classes_.tolist()
        return labels


class LightGBMFlavor:
    """``lightgbm.Booster`` and the scikit-learn wrappers (``LGBMClassifier``…)."""

    name = "lightgbm"

    def handles(self, model: object) -> bool:
        """True for a Booster or any ``LGBMModel``."""
        lightgbm = loaded("lightgbm")
        return lightgbm is not None and isinstance(model, lightgbm.LGBMModel | lightgbm.Booster)

    def save(
        self, model: object, directory: Path, *, input_example: ModelInput | None = None
    ) -> None:
        """The booster as text; a classifier's classes beside it."""
        import lightgbm

        meta: dict[str, Any] = {"classes": None}
        booster = model
        if isinstance(model, lightgbm.LGBMModel):
            booster = model.booster_
            if isinstance(model, lightgbm.LGBMClassifier):
                classes = model.classes_
                meta = {"classes": classes.tolist(), "dtype": classes.dtype.str}
        booster.save_model(directory / FILE)  # type: ignore[attr-defined]
        (directory / META).write_text(json.dumps(meta), encoding="utf-8")

    def load(self, directory: Path, *, trusted: Trust = False) -> Predictor:
        """``lightgbm.Booster(model_file=...)``, labelled if it was a classifier."""
        import lightgbm
        import numpy as np

        meta = json.loads((directory / META).read_text(encoding="utf-8"))
        booster = lightgbm.Booster(model_file=directory / FILE)
        if meta["classes"] is None:
            return _Booster(booster)
        return _Classifier(booster, np.array(meta["classes"], dtype=np.dtype(meta["dtype"])))

    def requirements(self) -> dict[str, str]:
        """lightgbm."""
        return versions("lightgbm")
