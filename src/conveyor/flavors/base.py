"""The one small interface every model flavor implements, and helpers they share.

A *flavor* knows one model library: whether an object belongs to it (:meth:`Flavor.handles`),
how to write it into a directory in that library's own safe format (:meth:`Flavor.save`), how
to read it back as a :class:`Predictor` (:meth:`Flavor.load`) and which exact library versions
loading needs (:meth:`Flavor.requirements`).

A predictor must have ``predict``. A classifier's predictor may also have the two methods of
:class:`ProbabilisticPredictor`: ``predict_proba`` (class probabilities, one column per class)
and ``classes`` (the labels of those columns, in order). Callers look them up with
``getattr``, and a predictor that has them may still answer None for a model that gives no
probabilities (a regressor behind the same wrapper class).

Heavy libraries are never imported just to ask :meth:`Flavor.handles`: an object can only be
an instance of a library's class if that library is already in :data:`sys.modules`.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from conveyor.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Array: TypeAlias = "np.ndarray[Any, Any]"
ModelInput: TypeAlias = "pd.DataFrame | np.ndarray[Any, Any]"
# What a loader trusts: False (only the flavor's safe defaults), a list of type names to
# trust as well (``["pkg.module.Type"]``), or True (everything, pickle included).
Trust: TypeAlias = "bool | Sequence[str]"


class Predictor(Protocol):
    """A loaded model: one ``predict`` from a DataFrame or an array to an array."""

    def predict(self, data: ModelInput) -> Array:
        """Predict one output row per input row."""
        ...


class ProbabilisticPredictor(Predictor, Protocol):
    """A predictor that can also give class probabilities (the optional part of the contract)."""

    def predict_proba(self, data: ModelInput) -> Array | None:
        """Probabilities of shape (rows, classes), or None if this model gives none."""
        ...

    def classes(self) -> list[Any] | None:
        """The class labels in the column order of :meth:`predict_proba`, None if unknown."""
        ...


class Flavor(Protocol):
    """How one model library's models are recognised, saved and loaded."""

    name: str

    def handles(self, model: object) -> bool:
        """Whether ``model`` belongs to this flavor's library (cheap; imports nothing heavy)."""
        ...

    def save(
        self, model: object, directory: Path, *, input_example: ModelInput | None = None
    ) -> None:
        """Write ``model``'s files into ``directory``, which exists and is empty.

        ``input_example`` is there for flavors that must trace the model (torch); the others
        ignore it.
        """
        ...

    def load(self, directory: Path, *, trusted: Trust = False) -> Predictor:
        """Read the model that :meth:`save` wrote into ``directory``.

        ``trusted=True`` allows formats that can run code while loading (pickle); a list of
        type names widens an allow-list by exactly those types (scikit-learn). Flavors with
        safe formats accept the argument and ignore it.
        """
        ...

    def requirements(self) -> dict[str, str]:
        """The exact installed versions of the distributions needed to load the model."""
        ...


def loaded(module: str) -> ModuleType | None:
    """The top-level library ``module`` if something already imported it, else None."""
    return sys.modules.get(module)


def versions(*distributions: str) -> dict[str, str]:
    """``{distribution: installed version}`` for each of ``distributions``."""
    pins = {}
    for name in distributions:
        try:
            pins[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelError(
                f"{name} is not installed, so its version cannot be pinned",
                hint="pip install 'conveyor-ml[models]'",
            ) from exc
    return pins


def first_installed(*candidates: str) -> str:
    """The name of the first of ``candidates`` that is installed (e.g. xgboost, xgboost-cpu)."""
    for name in candidates:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return name
    return candidates[0]


def as_matrix(data: ModelInput, dtype: str = "float32") -> Array:
    """``data`` (a DataFrame or an array) as a 2-D array of ``dtype``."""
    import numpy as np

    matrix: Array = np.asarray(data, dtype=dtype)  # a DataFrame's columns, in their order
    if matrix.ndim != 2:
        raise ModelError(
            f"expected 2-D input (rows × features), got an array of shape {matrix.shape}",
            hint="reshape a single row with x.reshape(1, -1)",
        )
    return matrix


def as_array(value: object) -> Array:
    """Whatever a library's predict returned, as a numpy array."""
    import numpy as np

    array: Array = np.asarray(value)
    return array
