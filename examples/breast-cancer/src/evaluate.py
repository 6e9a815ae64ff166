"""Score the saved model on the holdout split and write metrics.json."""

import json
from pathlib import Path

import pandas as pd
import skops.io as sio
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

path = "models/model.skops"
model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
test = pd.read_csv("data/prepared/test.csv")
features, target = test.drop(columns=["target", "clinic"]), test["target"]
proba = model.predict_proba(features)[:, 1]
predicted = (proba >= 0.5).astype(int)
metrics = {
    "accuracy": round(float(accuracy_score(target, predicted)), 6),
    "f1": round(float(f1_score(target, predicted)), 6),
    "roc_auc": round(float(roc_auc_score(target, proba)), 6),
    "log_loss": round(float(log_loss(target, proba)), 6),
    "n_holdout": len(test),
}
Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics))
