"""scikit-learn estimators and Pipelines, persisted with skops, never pickle.

skops stores an object tree and rebuilds it without running arbitrary code; it loads a type
only if the caller trusts it. Conveyor trusts exactly the types from scikit-learn, numpy,
scipy, the builtin types and ``collections`` (:data:`ALLOWED_PREFIXES`), and refuses a file
that holds anything else, naming the types, unless the caller passes ``trusted=True``.
The same check runs when saving, so a model that could not be loaded back is never written.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ModelError
from conveyor.flavors.base import Array, ModelInput, Predictor, as_array, loaded, versions

if TYPE_CHECKING:
    from collections.abc import Sequence

FILE = "model.skops"
ALLOWED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "collections.")


def disallowed_types(type_names: Sequence[str]) -> list[str]:
    """The names in ``type_names`` that are outside the allow-list.

    A ``builtins.`` name passes only if it is a builtin *type* (``builtins.int``), so
    functions such as ``builtins.eval`` never ride along inside a FunctionTransformer.
    """
    return [name for name in type_names if not _allowed(name)]


def _allowed(name: str) -> bool:
    if name.startswith(ALLOWED_PREFIXES):
        return True
    module, _, attr = name.rpartition(".")
    return module == "builtins" and isinstance(getattr(builtins, attr, None), type)


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
        import skops.io

        path = directory / FILE
        skops.io.dump(model, path)
        refused = disallowed_types(skops.io.get_untrusted_types(file=path))
        if refused:
            raise ModelError(
                f"the scikit-learn model holds types Conveyor will not load safely: {refused}",
                hint="save custom code with flavor='pyfunc' (loading it needs trusted=True)",
            )

    def load(self, directory: Path, *, trusted: bool = False) -> Predictor:
        """Load with skops, trusting only allow-listed types unless ``trusted``."""
        import skops.io

        path = directory / FILE
        untrusted = skops.io.get_untrusted_types(file=path)
        refused = disallowed_types(untrusted)
        if refused and not trusted:
            raise ModelError(
                f"{path} holds types outside Conveyor's allow-list "
                f"({', '.join(ALLOWED_PREFIXES)}, builtin types): {refused}; refusing to load it",
                hint="pass trusted=True only if you trust where this model came from",
            )
        return _Estimator(skops.io.load(path, trusted=untrusted))

    def requirements(self) -> dict[str, str]:
        """scikit-learn and skops."""
        return versions("scikit-learn", "skops")
