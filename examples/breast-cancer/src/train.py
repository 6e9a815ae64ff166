"""Fit a scaled logistic regression on the training split and save it with skops.

The model is also logged on the run with Conveyor's SDK, with an input example (its
signature is inferred from it) and a sample of the training data as the reference that
drift monitoring will compare production traffic with.
"""

from pathlib import Path

import pandas as pd
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import conveyor as cv

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
train = pd.read_csv("data/prepared/train.csv")
features, target = train.drop(columns=["target", "clinic"]), train["target"]
model = make_pipeline(
    StandardScaler(), LogisticRegression(C=params["C"], max_iter=params["max_iter"])
)
model.fit(features, target)
Path("models").mkdir(exist_ok=True)
sio.dump(model, "models/model.skops")
cv.log_model(model, "model", input_example=features.head(5), reference_data=features)
print(f"trained on {len(train)} rows with C={params['C']}")
