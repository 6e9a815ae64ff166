"""`conveyor evaluate`, `check` and `report` end to end, on real scikit-learn models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import conveyor as cv
from conveyor import tracking

GATES = """\
stages:
  noop: {cmd: "true"}
evaluation:
  data: data/test.csv
  target: target
  name: cancer
  slices: [clinic]
gates:
  thresholds: ["roc_auc >= 0.9", "accuracy >= 0.8"]
  champion:
    compare:
      - {metric: roc_auc, mode: non-inferiority, margin: 0.02}
      - {metric: accuracy, mode: non-inferiority, margin: 0.05}
    resamples: 500
  fairness:
    - {column: clinic, metric: equal_opportunity, max_gap: 0.3, min_group_size: 10}
  robustness:
    - {perturbation: noise, amount: 0.1, metric: roc_auc, max_drop: 0.1}
  operational: {latency_p95_ms: 500, model_size_mb: 5}
"""


@pytest.fixture
def cancer(make_project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a holdout (plus a `clinic` column the model never sees)."""
    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(0)
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    root = make_project({"conveyor.yaml": GATES})
    (root / "data").mkdir()
    train, test = frame.iloc[:400], frame.iloc[400:].copy()
    test["clinic"] = rng.choice(["north", "south"], size=len(test))
    train.to_csv(root / "data" / "train.csv", index=False)
    test.to_csv(root / "data" / "test.csv", index=False)
    monkeypatch.chdir(root)
    return root


def log_model(root: Path, c: float = 1.0, features: list[str] | None = None) -> str:
    """Train on data/train.csv and log the model on a new script run; returns the run id."""
    train = pd.read_csv(root / "data" / "train.csv")
    x = train.drop(columns="target")
    if features is not None:
        x = x[features]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    model.fit(x, train["target"])
    with cv.start_run() as run:
        cv.log_model(model, "model", input_example=x.head(3))
    tracking._STORES.clear()  # each CLI call opens the store as a fresh process would
    return run.id


def test_first_check_has_no_champion_passes_and_promotes(cli, cancer: Path) -> None:
    log_model(cancer)
    result = cli("check", "--promote", "champion", cwd=cancer)
    assert result.exit_code == 0, result.output
    assert "comparison skipped" in result.output
    assert "no model named 'cancer' is registered yet" in result.output
    assert "PASSED" in result.output
    assert "promoted cancer/1 to @champion" in result.output

    shown = cli("models", "show", "cancer/1", "--json", cwd=cancer)
    version = json.loads(shown.stdout)
    assert version["aliases"] == ["champion"]
    assert version["tags"]["check"] == "passed"
    assert "check passed" in cli("runs", cwd=cancer).stdout


def test_check_against_the_champion_states_its_statistics(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    log_model(cancer, c=0.5)
    result = cli("check", "--json", cwd=cancer)
    assert result.exit_code == 0, result.stderr
    check = json.loads(result.stdout)
    assert check["champion"]["name"] == "cancer"
    assert check["champion"]["version"] == 1
    compared = {g["name"]: g for g in check["gates"] if g["kind"] == "comparison"}
    auc = compared["roc_auc vs champion"]
    assert auc["status"] == "passed"
    assert auc["n"] == 169
    low, high = auc["interval"]
    assert low <= auc["evidence"]["difference"] <= high
    assert "paired bootstrap" in auc["test"]
    assert len(auc["evidence"]["distribution"]) == 500
    accuracy = compared["accuracy vs champion"]
    assert accuracy["evidence"]["mcnemar"]["n"] == 169
    assert 0 <= accuracy["p_value"] <= 1
    kinds = {g["kind"] for g in check["gates"]}
    assert kinds == {"threshold", "comparison", "fairness", "robustness", "operational"}


def test_a_worse_candidate_fails_superiority_and_exits_1(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    yaml_text = (cancer / "conveyor.yaml").read_text()
    (cancer / "conveyor.yaml").write_text(
        yaml_text.replace("mode: non-inferiority, margin: 0.02", "mode: superiority, margin: 0")
    )
    log_model(cancer, features=["mean radius", "mean texture"])  # a much weaker model
    result = cli("check", "--promote", "challenger", cwd=cancer)
    assert result.exit_code == 1
    assert "roc_auc vs champion" in result.stderr
    assert "gates failed" in result.stderr
    assert "promoted" not in result.output  # failed checks never move an alias
    versions = json.loads(cli("models", "versions", "--json", cwd=cancer).stdout)
    assert [v["version"] for v in versions] == [1]


def test_report_renders_the_latest_check(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    log_model(cancer, c=0.3)
    cli("check", cwd=cancer)
    result = cli("report", "-o", "out", cwd=cancer)
    assert result.exit_code == 0, result.output
    text = (cancer / "out" / "report.md").read_text()
    assert text.startswith("<!-- conveyor-report -->")
    assert "roc_auc vs champion" in text
    assert list((cancer / "out").glob("*.png"))
    html = cli("report", "--format", "html", "-o", "html", cwd=cancer)
    assert html.exit_code == 0, html.output
    assert "data:image/png;base64" in (cancer / "html" / "report.html").read_text()


def test_evaluate_prints_metrics_slices_and_latency(cli, cancer: Path) -> None:
    log_model(cancer)
    result = cli("evaluate", cwd=cancer)
    assert result.exit_code == 0, result.output
    for expected in ("roc_auc", "clinic = north", "p95", "Confusion matrix", "model size"):
        assert expected in result.stdout
    as_json = json.loads(cli("evaluate", "--json", cwd=cancer).stdout)
    assert as_json["task"] == "binary"
    assert as_json["n_rows"] == 169


def test_champion_that_cannot_score_the_holdout_fails_the_comparison(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    test = pd.read_csv(cancer / "data" / "test.csv")
    test.drop(columns="worst area").to_csv(cancer / "data" / "test.csv", index=False)
    train = pd.read_csv(cancer / "data" / "train.csv")
    train.drop(columns="worst area").to_csv(cancer / "data" / "train.csv", index=False)
    log_model(cancer)
    result = cli("check", "--json", cwd=cancer)
    assert result.exit_code == 1
    check = json.loads(result.stdout)
    assert "cannot score this holdout" in check["champion_note"]
    assert "worst area" in check["champion_note"]
    assert all(g["status"] == "failed" for g in check["gates"] if g["kind"] == "comparison")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda y: y.replace("evaluation:", "unused:"), "unknown key"),
        (lambda y: y.replace('"roc_auc >= 0.9"', '"auc >= 0.9"'), "no metric 'auc'"),
        (lambda y: y.replace('"roc_auc >= 0.9"', '"roc_auc => 0.9"'), "METRIC OP NUMBER"),
        (lambda y: y.replace("target: target", "target: label"), "label"),
        (lambda y: y.replace("data/test.csv", "data/test.txt"), "CSV"),
        (lambda y: y.replace("column: clinic", "column: region"), "region"),
    ],
)
def test_bad_configuration_is_a_clear_error(cli, cancer: Path, change, message: str) -> None:
    log_model(cancer)
    path = cancer / "conveyor.yaml"
    path.write_text(change(path.read_text()))
    result = cli("check", cwd=cancer)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_empty_holdout_is_a_clear_error(cli, cancer: Path) -> None:
    log_model(cancer)
    (cancer / "data" / "test.csv").write_text("")
    result = cli("check", cwd=cancer)
    assert result.exit_code == 1
    assert "data/test.csv is empty" in result.stderr


def test_report_before_any_check_says_what_to_do(cli, cancer: Path) -> None:
    result = cli("report", cwd=cancer)
    assert result.exit_code == 1
    assert "run `conveyor check` first" in result.stderr


def _corrupt_nan(t: pd.DataFrame) -> None:
    t.loc[3, "mean radius"] = np.nan


def _corrupt_inf(t: pd.DataFrame) -> None:
    t.loc[5, "mean texture"] = np.inf


def _corrupt_text(t: pd.DataFrame) -> None:
    t["mean radius"] = t["mean radius"].astype(str)
    t.loc[2, "mean radius"] = "abc"


def _corrupt_label(t: pd.DataFrame) -> None:
    t.loc[2, "target"] = 2


def _corrupt_target(t: pd.DataFrame) -> None:
    t.loc[4, "target"] = np.nan


def _corrupt_columns(t: pd.DataFrame) -> None:
    del t["worst area"]
    del t["target"]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_corrupt_nan, "Input X contains NaN"),
        (_corrupt_inf, "infinity"),
        (_corrupt_text, "could not convert string to float: 'abc'"),
        (_corrupt_label, "labels the model was not trained on: '2' (1 row(s), first at row 2)"),
        (_corrupt_target, "missing value"),
        (_corrupt_columns, "target"),
    ],
)
def test_bad_holdout_data_is_a_clear_error_naming_the_file(
    cli, cancer: Path, corrupt, message: str
) -> None:
    log_model(cancer)
    test = pd.read_csv(cancer / "data" / "test.csv")
    corrupt(test)
    test.to_csv(cancer / "data" / "test.csv", index=False)
    result = cli("check", cwd=cancer)
    assert result.exit_code == 1
    assert "data/test.csv" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output
