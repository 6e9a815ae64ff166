"""Log a faulty model for the demo: it passes every pre-traffic check, then fails ~30% of
real requests with a 5xx, the kind of bug only a canary catches.

Usage (in the demo project): python examples/faulty_model.py TRAIN.csv [SHARE]

The bug is a plausible one. The model was trained on the rows whose ``mean area`` is above
its 30th percentile only, and it takes the square root of that column min-max scaled on
those rows. A smaller tumour than any it saw scales below zero, the square root is NaN, and
the classifier refuses the row: the gateway answers 500. Its own input example, the stable
version's (what clients send today) and the load test's rows all lie above the cut, so the
smoke, compatibility and load checks pass. Only scikit-learn's own types are used, so the
gateway loads it without being told to trust it.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

import conveyor as cv

COLUMN = "mean area"


def faulty(
    features: pd.DataFrame, target: pd.Series, share: float, keep: pd.DataFrame
) -> tuple[object, float]:
    """A pipeline that fails on (up to) the ``share`` of ``features`` with the smallest
    ``COLUMN``, never on the rows of ``keep``; and the value below which it fails."""
    cut = min(features[COLUMN].quantile(share), keep[COLUMN].min())
    seen = features[COLUMN] >= cut
    root = make_pipeline(MinMaxScaler(), FunctionTransformer(np.sqrt))
    prepare = ColumnTransformer([("root", root, [COLUMN])], remainder="passthrough")
    model = make_pipeline(prepare, StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(features[seen], target[seen]), cut


def main() -> None:
    train = pd.read_csv(sys.argv[1])
    share = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    features, target = train.drop(columns=["target", "clinic"]), train["target"]
    stable_example = features.head(5)  # what the stable version logged (src/train.py)
    model, cut = faulty(features, target, share, stable_example)
    with cv.start_run(name="faulty"):
        cv.log_model(model, "model", input_example=stable_example)
    failing = (features[COLUMN] < cut).mean()
    print(f"logged a model that fails when {COLUMN!r} < {cut:g}: {failing:.0%} of the rows")


if __name__ == "__main__":
    main()
