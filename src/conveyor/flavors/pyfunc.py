"""The "python function" flavor: any object with a ``predict`` method, for custom code.

The object is written with cloudpickle, which can carry classes and functions defined in a
script or notebook by value. Unpickling runs code, so loading refuses with
:class:`~conveyor.errors.UntrustedModel` unless the caller passes ``trusted=True``. This
flavor is never chosen automatically: ask for it with ``flavor="pyfunc"``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from conveyor.errors import UntrustedModel
from conveyor.flavors.base import Array, ModelInput, Predictor, Trust, as_array, versions

FILE = "model.pkl"


class _Function:
    """The unpickled object; its ``predict`` answers with a numpy array."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: ModelInput) -> Array:
        """The object's own ``predict``."""
        return as_array(self.model.predict(data))

    def predict_proba(self, data: ModelInput) -> Array | None:
        """The object's ``predict_proba``, if it has one."""
        if not callable(getattr(self.model, "predict_proba", None)):
            return None
        return as_array(self.model.predict_proba(data))

    def classes(self) -> list[Any] | None:
        """The object's ``classes_``, if it has them."""
        classes = getattr(self.model, "classes_", None)
        return None if classes is None else as_array(classes).tolist()


class PyfuncFlavor:
    """Custom Python objects with a ``predict(data)`` method, pickled with cloudpickle."""

    name = "pyfunc"

    def handles(self, model: object) -> bool:
        """True for anything with a callable ``predict``."""
        return callable(getattr(model, "predict", None))

    def save(
        self, model: object, directory: Path, *, input_example: ModelInput | None = None
    ) -> None:
        """cloudpickle ``model`` into ``model.pkl``."""
        import cloudpickle

        with open(directory / FILE, "wb") as file:
            cloudpickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, directory: Path, *, trusted: Trust = False) -> Predictor:
        """Unpickle the object, only if ``trusted is True`` (no list of types makes pickle safe)."""
        path = directory / FILE
        if trusted is not True:
            raise UntrustedModel(
                f"{path} is a python-function model: loading it unpickles arbitrary code; "
                "load it with trusted=True only if you trust where it came from"
            )
        with open(path, "rb") as file:
            return _Function(pickle.load(file))  # the caller trusts this file

    def requirements(self) -> dict[str, str]:
        """cloudpickle (the custom code's own libraries are the caller's to pin)."""
        return versions("cloudpickle")
