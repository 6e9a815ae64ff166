"""Fit a scaled logistic regression on the training split and save it with skops."""

from pathlib import Path

import pandas as pd
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
train = pd.read_csv("data/prepared/train.csv")
features, target = train.drop(columns="target"), train["target"]
model = make_pipeline(
    StandardScaler(), LogisticRegression(C=params["C"], max_iter=params["max_iter"])
)
model.fit(features, target)
Path("models").mkdir(exist_ok=True)
sio.dump(model, "models/model.skops")
print(f"trained on {len(train)} rows with C={params['C']}")
