"""scikit-learn estimators and Pipelines, persisted with skops, never pickle.

skops stores an object tree and rebuilds it by calling the types the file names, so it loads
a type only if the caller trusts it. Conveyor trusts skops' defaults plus an explicit list of
the data types fitted estimators hold (:mod:`conveyor.flavors.sklearn_trust`), and refuses a
file that holds anything else with :class:`~conveyor.errors.UntrustedModel`, naming the
types, unless the caller trusts them by name (``trusted=["pkg.Type"]``) or wholesale
(``trusted=True``). The same check runs when saving, so a model that could not be loaded
back is never written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conveyor.errors import ModelError
from conveyor.flavors.base import (
    Array,
    ModelInput,
    Predictor,
    Trust,
    as_array,
    loaded,
    versions,
)
from conveyor.flavors.sklearn_trust import refuse, untrusted_types

FILE = "model.skops"


class _Estimator:
    """A loaded estimator; its ``predict`` always answers with a numpy array."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, data: ModelInput) -> Array:
        """The estimator's own ``predict``."""
        return as_array(self.estimator.predict(data))

    def predict_proba(self, data: ModelInput) -> Array | None:
        """The estimator's ``predict_proba``; None if it has none (regressors, SVC without it)."""
        if not hasattr(self.estimator, "predict_proba"):
            return None
        return as_array(self.estimator.predict_proba(data))

    def classes(self) -> list[Any] | None:
        """The estimator's ``classes_`` (a Pipeline's come from its last step)."""
        classes = getattr(self.estimator, "classes_", None)
        return None if classes is None else as_array(classes).tolist()


class SklearnFlavor:
    """Any scikit-learn estimator or Pipeline whose parts all come from scikit-learn."""

    name = "sklearn"

    def handles(self, model: object) -> bool:
        """True for instances of scikit-learn's own estimator classes."""
        sklearn = loaded("sklearn")
        if sklearn is None:
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator) and type(model).__module__.startswith("sklearn.")

    def save(
        self, model: object, directory: Path, *, input_example: ModelInput | None = None
    ) -> None:
        """Dump ``model`` with skops, then refuse it if the file needs untrusted types."""
        from conveyor.flavors.skops_import import import_skops_io

        skops_io = import_skops_io()

        path = directory / FILE
        skops_io.dump(model, path)
        _, refused = untrusted_types(path, False)
        if refused:
            raise ModelError(
                "the scikit-learn model holds types Conveyor does not trust to load: "
                f"{', '.join(refused)}",
                hint="save custom code with flavor='pyfunc' (loading it needs trusted=True)",
            )

    def load(self, directory: Path, *, trusted: Trust = False) -> Predictor:
        """Load with skops; types outside the trusted set must be named in ``trusted``."""
        from conveyor.flavors.skops_import import import_skops_io

        skops_io = import_skops_io()

        path = directory / FILE
        found, refused = untrusted_types(path, trusted)
        if refused:
            raise refuse(path, refused)
        return _Estimator(skops_io.load(path, trusted=found))

    def requirements(self) -> dict[str, str]:
        """scikit-learn and skops."""
        return versions("scikit-learn", "skops")
