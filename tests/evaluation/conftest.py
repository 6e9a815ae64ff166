"""Session fixtures: a binary, a multiclass and a regression model, saved and loaded.

Breast cancer (binary, 0/1), iris (multiclass, species names as labels) and diabetes
(regression); see saved_models.py.
"""

from __future__ import annotations

import pytest
from saved_models import IRIS_NAMES, Fitted, fit_and_save, logistic
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression


@pytest.fixture(scope="session")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """Breast cancer, 0 (malignant) / 1 (benign), a scaled logistic regression."""
    return fit_and_save(tmp_path_factory.mktemp("binary") / "model", load_breast_cancer, logistic())


@pytest.fixture(scope="session")
def multiclass(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """Iris with the species names as labels."""
    return fit_and_save(
        tmp_path_factory.mktemp("multiclass") / "model",
        load_iris,
        logistic(),
        labels=lambda y: IRIS_NAMES[y],
    )


@pytest.fixture(scope="session")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """Diabetes progression, a linear regression."""
    return fit_and_save(
        tmp_path_factory.mktemp("regression") / "model", load_diabetes, LinearRegression()
    )
