"""Which types a scikit-learn model file may hold when it is loaded: data, never code.

skops rebuilds an object tree from a file by *calling* the types and functions the file
names (a constructor with stored arguments, ``__setstate__``), so trusting a name means
trusting whatever a call to it can do. A name like ``numpy.testing.runstring`` (``exec``) in a
file that otherwise holds a working estimator runs code on load. The trusted set is therefore
an explicit list, never a module prefix:

1. skops' own defaults: scikit-learn's estimators (``sklearn.utils.all_estimators``), numpy
   and scipy ufuncs, numpy dtypes and bit generators, builtin primitives and containers.
   ``skops.io.get_untrusted_types`` reports only what falls outside them.
2. :func:`conveyor_trusted`: the non-estimator types scikit-learn's fitted estimators keep
   as state (tree node arrays, neighbour trees, distance metrics, kernels, losses,
   optimizers, dtypes), and the few statistics functions estimators hold as parameters
   (``SelectKBest``'s ``f_classif``), which compute over arrays and nothing else.
3. The names a caller passes as ``trusted=[...]``, or everything with ``trusted=True``.

Anything else is :class:`~conveyor.errors.UntrustedModel`, naming the types.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from pathlib import Path

from conveyor.errors import UntrustedModel
from conveyor.flavors.base import Trust

# State that fitted scikit-learn estimators hold; each is arrays and numbers once loaded.
# skops leaves the two tree types to the caller because a crafted node array can crash
# prediction (it cannot run code); every tree model needs them, so Conveyor trusts them.
DATA_TYPES = (
    "numpy.dtype",
    "scipy.interpolate._bsplines.BSpline",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.utils._bunch.Bunch",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
)

# Functions estimators keep as parameters by default: pure computations over arrays.
FUNCTIONS = (
    "numpy.mean",  # FeatureAgglomeration's pooling_func
    "scipy._lib.array_api_compat.numpy._aliases.asarray",  # in SplineTransformer's BSplines
    "sklearn.cluster._kmeans._kmeans_single_lloyd",  # BisectingKMeans' algorithm
    "sklearn.cluster._kmeans._kmeans_single_elkan",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.feature_selection._univariate_selection.r_regression",
    "sklearn.feature_selection._univariate_selection.chi2",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
)

# (module, base class): the subclasses defined there are trusted too, found at import time
# so that a scikit-learn release adding a kernel or a metric needs no change here.
FAMILIES = (
    ("sklearn.gaussian_process.kernels", "Kernel"),
    ("sklearn._loss.loss", "BaseLoss"),
    ("sklearn.metrics._dist_metrics", "DistanceMetric64"),
    ("sklearn.metrics._dist_metrics", "DistanceMetric32"),
)
# A distance metric built around a user's Python function is not data.
EXCLUDED = frozenset(
    {
        "sklearn.metrics._dist_metrics.PyFuncDistance64",
        "sklearn.metrics._dist_metrics.PyFuncDistance32",
    }
)


@functools.cache
def conveyor_trusted() -> frozenset[str]:
    """The names Conveyor trusts beyond skops' defaults (see the module docstring)."""
    names = set(DATA_TYPES) | set(FUNCTIONS)
    for module_name, base_name in FAMILIES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # a private module another scikit-learn release moved
            continue
        base = getattr(module, base_name, None)
        if base is None:
            continue
        names.update(
            _type_name(cls) for cls in _subclasses(base) if cls.__module__ == module_name
        )  # never a subclass someone defined elsewhere (a script's own Kernel)
    return frozenset(names - EXCLUDED)


def untrusted_types(path: Path, trusted: Trust) -> tuple[list[str], list[str]]:
    """``(every type outside skops' defaults, those of them that no one trusts)`` in ``path``.

    Loading passes the first list to skops once the second is empty.
    """
    from conveyor.flavors.skops_import import import_skops_io

    skops_io = import_skops_io()

    found: list[str] = skops_io.get_untrusted_types(file=path)
    if trusted is True:
        return found, []
    allowed = conveyor_trusted() | set(trusted or ())
    return found, [name for name in found if name not in allowed]


def refuse(path: Path, refused: Sequence[str]) -> UntrustedModel:
    """The error for a file at ``path`` that holds the ``refused`` type names."""
    return UntrustedModel(
        f"{path} holds types that Conveyor does not trust to load (loading calls them, "
        f"so they could run code): {', '.join(refused)}; refusing to load it",
        hint=f"if you trust where this model came from, load it with trusted={list(refused)!r}",
    )


def _subclasses(base: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = base.__subclasses__()
    for cls in subclasses:
        found.append(cls)
        found.extend(_subclasses(cls))
    return found


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"
