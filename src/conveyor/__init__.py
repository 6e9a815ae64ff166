"""Conveyor: continuous integration, training and delivery for machine-learning models.

The Python SDK::

    import conveyor as cv

    with cv.start_run(name="baseline"):      # inside `conveyor run`, the stage's run
        cv.log_params({"C": 1.0})
        cv.log_metrics({"auc": 0.97})
        cv.log_model(model, "model", input_example=X[:5], reference_data=X)

    model = cv.load_model("models:/churn@champion")

Names are imported on first use, so ``import conveyor`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "start_run": "conveyor.tracking",
    "active_run": "conveyor.tracking",
    "log_params": "conveyor.tracking",
    "log_metrics": "conveyor.tracking",
    "log_metric": "conveyor.tracking",
    "set_tags": "conveyor.tracking",
    "log_artifact": "conveyor.tracking",
    "log_model": "conveyor.tracking",
    "load_model": "conveyor.loading",
    "ConveyorError": "conveyor.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'conveyor' has no attribute {name!r}")
