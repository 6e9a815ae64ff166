"""Which model `conveyor check` scores by default: the one conveyor.lock says was built."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor import tracking

TRAIN = """
import pandas as pd
from sklearn.linear_model import LogisticRegression
import conveyor as cv
frame = pd.read_csv("data.csv")
x = frame[["mean radius", "mean texture"]]
model = LogisticRegression().fit(x, frame["target"])
open("trained.txt", "w").write("ok")
cv.log_model(model, "model", input_example=x.head(3))
"""


def test_the_default_candidate_is_the_model_of_the_locked_pipeline(
    cli, make_project, py_cmd
) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    root = make_project(
        {
            "conveyor.yaml": f"""\
                stages:
                  train:
                    cmd: {json.dumps(py_cmd(TRAIN))}
                    deps: [data.csv]
                    outs: [trained.txt]
                evaluation: {{data: data.csv, target: target}}
                """
        }
    )
    frame.to_csv(root / "data.csv", index=False)
    assert cli("run", cwd=root).exit_code == 0
    pipeline_run = json.loads(cli("runs", "--json", cwd=root).stdout)[0]["id"]

    # Something newer logs another model (a notebook, another branch in a shared store).
    other = LogisticRegression(max_iter=5000).fit(frame.drop(columns="target"), frame["target"])
    with cv.start_run():
        cv.log_model(other, "model", input_example=frame.drop(columns="target").head(3))
    tracking.close_stores()

    assert cli("run", cwd=root).exit_code == 0  # up to date: records no run
    check = json.loads(cli("check", "--json", cwd=root).stdout)
    assert check["candidate"]["run_id"] == pipeline_run
    assert check["candidate"]["uri"] == f"runs:/{pipeline_run}/model"

    explicit = json.loads(cli("check", "--json", "--model", "runs:/latest/model", cwd=root).stdout)
    assert explicit["candidate"]["run_id"] != pipeline_run


def test_without_a_lock_the_latest_logged_model_is_checked(cli, make_project, monkeypatch) -> None:
    frame = load_breast_cancer(as_frame=True).frame[["mean radius", "target"]]
    root = make_project(
        {
            "conveyor.yaml": "stages:\n  noop: {cmd: 'true'}\n"
            "evaluation: {data: d.csv, target: target}\n"
        }
    )
    frame.to_csv(root / "d.csv", index=False)
    model = LogisticRegression().fit(frame[["mean radius"]], frame["target"])
    monkeypatch.chdir(root)
    with cv.start_run() as run:
        cv.log_model(model, "model", input_example=pd.DataFrame({"mean radius": [10.0]}))
    tracking.close_stores()
    check = json.loads(cli("check", "--json", cwd=root).stdout)
    assert check["candidate"]["run_id"] == run.id
    assert Path(root / "conveyor.lock").exists() is False
