"""Split scikit-learn's bundled breast-cancer data set into train and holdout CSV files.

The data set has no demographic column, so a `clinic` column (which clinic each record came
from) is assigned at random here. The model never sees it; the quality gates use it to
report metrics per clinic and to check that the model is equally sensitive at each one.
"""

from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

params = yaml.safe_load(Path("params.yaml").read_text())["prepare"]
frame = load_breast_cancer(as_frame=True).frame
rng = np.random.default_rng(params["seed"])
frame.insert(0, "clinic", rng.choice(["north", "south", "east"], size=len(frame)))
train, test = train_test_split(
    frame, test_size=params["test_size"], random_state=params["seed"], stratify=frame["target"]
)
out = Path("data/prepared")
out.mkdir(parents=True, exist_ok=True)
train.to_csv(out / "train.csv", index=False)
test.to_csv(out / "test.csv", index=False)
print(f"train: {len(train)} rows, holdout: {len(test)} rows")
