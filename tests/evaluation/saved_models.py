"""Small real models, saved and loaded, and the holdout frames they are evaluated on.

Each model is fitted on a seeded split of a bundled scikit-learn data set, saved with an
input example (so it has a signature) and loaded back. The holdout keeps the test features
and adds the target column, ``target``. conftest.py turns these into session fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conveyor.modelpack import LoadedModel, load_model_dir, save_model

TARGET = "target"
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])


@dataclass(frozen=True)
class Fitted:
    """A fitted estimator, its saved-and-loaded model and the holdout (features + target)."""

    estimator: Any
    model: LoadedModel
    X_test: pd.DataFrame
    y_test: pd.Series
    directory: Path

    @property
    def holdout(self) -> pd.DataFrame:
        return self.X_test.assign(**{TARGET: self.y_test.to_numpy()})


def fit_and_save(
    directory: Path,
    loader: Callable[..., Any],
    estimator: Any,
    labels: Callable[[pd.Series], Any] = lambda y: y,
) -> Fitted:
    X, y = loader(return_X_y=True, as_frame=True)
    y = pd.Series(labels(y), index=X.index, name=TARGET)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    estimator.fit(X_train, y_train)
    save_model(estimator, directory, input_example=X_train.head(5))
    X_test, y_test = X_test.reset_index(drop=True), y_test.reset_index(drop=True)
    return Fitted(estimator, load_model_dir(directory), X_test, y_test, directory)


def logistic() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
