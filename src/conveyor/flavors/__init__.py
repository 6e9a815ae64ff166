"""Model flavors: one module per model library, all behind :class:`~.base.Flavor`.

:data:`FLAVORS` lists them in the order :func:`flavor_for` asks them, most specific first
(xgboost and lightgbm models are also scikit-learn estimators, so they go before sklearn),
and ``pyfunc`` last. ``pyfunc`` is never picked automatically: loading it unpickles code and
needs ``trusted=True``, so a user asks for it by name.

>>> flavor_for(fitted_random_forest).name  # doctest: +SKIP
'sklearn'
"""

from __future__ import annotations

import difflib

from conveyor.errors import ModelError
from conveyor.flavors.base import Flavor, Predictor
from conveyor.flavors.lightgbm import LightGBMFlavor
from conveyor.flavors.onnx import OnnxFlavor, convert_sklearn
from conveyor.flavors.pyfunc import PyfuncFlavor
from conveyor.flavors.sklearn import SklearnFlavor
from conveyor.flavors.torch import TorchFlavor
from conveyor.flavors.xgboost import XGBoostFlavor

__all__ = ["FLAVORS", "Flavor", "Predictor", "convert_sklearn", "flavor_for", "get_flavor"]

FLAVORS: tuple[Flavor, ...] = (
    XGBoostFlavor(),
    LightGBMFlavor(),
    OnnxFlavor(),
    TorchFlavor(),
    SklearnFlavor(),
    PyfuncFlavor(),
)

SUPPORTED = (
    "scikit-learn estimators and Pipelines, xgboost Booster/XGBModel, lightgbm "
    "Booster/LGBMModel, onnx.ModelProto, torch nn.Module/ExportedProgram"
)


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; an unknown name gets "did you mean" suggestions."""
    for flavor in FLAVORS:
        if flavor.name == name:
            return flavor
    names = [flavor.name for flavor in FLAVORS]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"flavors: {', '.join(names)}"
    raise ModelError(f"unknown model flavor {name!r}", hint=hint)


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model``, found by asking each one in :data:`FLAVORS` order."""
    for flavor in FLAVORS:
        if flavor.name != "pyfunc" and flavor.handles(model):
            return flavor
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise ModelError(
        f"no model flavor can save a {kind}; supported: {SUPPORTED}",
        hint="for custom code with a predict(data) method pass flavor='pyfunc' "
        "(loading it then needs trusted=True)",
    )
