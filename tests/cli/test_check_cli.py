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
    tracking.close_stores()  # each CLI call opens the store as a fresh process would
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
    assert {v["version"]: (v["status"], v["aliases"]) for v in versions} == {
        1: ("approved", ["champion"]),
        2: ("rejected", []),  # the failed candidate, on record
    }


def test_a_failed_candidate_is_registered_as_rejected_with_its_evidence(cli, cancer) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    yaml_text = (cancer / "conveyor.yaml").read_text()
    (cancer / "conveyor.yaml").write_text(
        yaml_text.replace("mode: non-inferiority, margin: 0.02", "mode: superiority, margin: 0")
    )
    log_model(cancer, features=["mean radius", "mean texture"])

    failed = cli("check", cwd=cancer)
    again = cli("check", cwd=cancer)  # the same model: the same version, not a new one
    shown = json.loads(cli("models", "show", "cancer/2", "--json", cwd=cancer).stdout)
    listed = cli("models", "list", cwd=cancer).stdout
    versions = cli("models", "show", "cancer", cwd=cancer).stdout
    human = cli("models", "show", "cancer/2", cwd=cancer).stdout
    promote = cli("models", "promote", "cancer", "2", cwd=cancer)
    alias = cli("models", "alias", "cancer", "2", "champion", cwd=cancer)
    failures = cli("models", "versions", "--where", "tags.check = 'failed'", cwd=cancer).stdout

    assert failed.exit_code == 1
    assert "recorded as cancer/2 (rejected)" in failed.stdout
    assert again.exit_code == 1
    assert "recorded as cancer/2 (rejected)" in again.stdout
    assert shown["status"] == "rejected"
    check_run = json.loads(cli("runs", "--json", cwd=cancer).stdout)[0]["id"]
    assert shown["tags"]["check"] == "failed"
    assert shown["tags"]["check.run"] == check_run
    assert "roc_auc vs champion" in shown["tags"]["check.failed"]
    assert [e["kind"] for e in shown["events"]][:2] == ["registered", "status"]
    assert (shown["events"][1]["before"], shown["events"][1]["after"]) == ("candidate", "rejected")
    assert "latest v2 rejected" in listed
    assert [line.split()[:2] for line in failures.splitlines()] == [["cancer/2", "rejected"]]
    assert any(line.split()[:2] == ["cancer/2", "rejected"] for line in versions.splitlines())
    assert "  tags     check=failed check.failed=roc_auc vs champion" in human
    assert f"check.run={check_run}" in human
    retag = [e for e in shown["events"] if e["details"].get("key") == "check.run"][-1]
    assert retag["before"] != retag["after"]  # the history keeps the earlier check's run
    assert promote.exit_code == 1
    assert "cancer/2 is rejected" in promote.stderr
    assert f"failed its check (run {check_run})" in promote.stderr
    assert "conveyor models status cancer 2 candidate" in promote.stderr
    assert alias.exit_code == 1
    # the explicit override: a person puts it back to candidate, on record, then promotes
    assert cli("models", "status", "cancer", "2", "candidate", cwd=cancer).exit_code == 0
    assert cli("models", "promote", "cancer", "2", cwd=cancer).exit_code == 0


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


def _edit(root: Path, old: str, new: str) -> None:
    path = root / "conveyor.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_champion_alias_named_on_the_command_line_must_exist(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    result = cli("check", "--champion", "champoin", cwd=cancer)
    assert result.exit_code == 1
    assert "--champion champoin: no version of cancer holds that alias" in result.stderr
    assert "@champion" in result.stderr


def test_a_misspelt_model_name_is_an_error_not_a_skipped_comparison(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    _edit(cancer, "name: cancer", "name: cancr")
    result = cli("check", cwd=cancer)
    assert result.exit_code == 1
    assert "evaluation.name: no registered model named 'cancr'" in result.stderr
    assert "did you mean 'cancer'" in result.stderr


def test_gates_are_named_after_the_alias_they_compare_with(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "challenger", cwd=cancer).exit_code == 0
    check = json.loads(cli("check", "--champion", "challenger", "--json", cwd=cancer).stdout)
    compared = [g for g in check["gates"] if g["kind"] == "comparison"]
    assert [g["name"] for g in compared] == ["roc_auc vs challenger", "accuracy vs challenger"]
    assert all("vs challenger" in g["detail"] for g in compared)


def test_the_champion_against_itself_is_not_inferior_even_with_no_margin(cli, cancer) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    _edit(cancer, "margin: 0.05", "margin: 0")
    result = cli("check", "--model", "models:/cancer@champion", "--json", cwd=cancer)
    assert result.exit_code == 0, result.stderr
    gates = json.loads(result.stdout)["gates"]
    accuracy = next(g for g in gates if g["name"] == "accuracy vs champion")
    assert accuracy["interval"] == [0.0, 0.0]
    assert accuracy["status"] == "passed"


def test_a_metric_typo_in_a_comparison_is_caught_before_scoring(cli, cancer: Path) -> None:
    log_model(cancer)
    _edit(cancer, "{metric: roc_auc, mode", "{metric: roc_acu, mode")
    result = cli("check", cwd=cancer)
    assert result.exit_code == 1
    assert "gates.champion.compare[0].metric: unknown metric 'roc_acu'" in result.stderr
    assert "did you mean 'roc_auc'" in result.stderr
    assert "check" not in cli("runs", cwd=cancer).stdout  # nothing was recorded


def test_fairness_with_fewer_than_two_large_groups_fails_and_says_why(cli, cancer) -> None:
    log_model(cancer)
    _edit(cancer, "min_group_size: 10", "min_group_size: 500")
    result = cli("check", "--json", cwd=cancer)
    assert result.exit_code == 1
    fairness = next(g for g in json.loads(result.stdout)["gates"] if g["kind"] == "fairness")
    assert fairness["status"] == "failed"
    assert "fewer than two groups have at least 500 rows" in fairness["detail"]
    assert "north:" in fairness["detail"]


def test_invalid_declared_data_fails_the_check(cli, cancer: Path) -> None:
    (cancer / "schema.yaml").write_text(
        "columns:\n  mean radius: {dtype: float64, max: 10}\n", encoding="utf-8"
    )
    text = (cancer / "conveyor.yaml").read_text()
    (cancer / "conveyor.yaml").write_text(
        text + "validation:\n  holdout: {data: data/test.csv, schema: schema.yaml}\n"
    )
    log_model(cancer)
    result = cli("check", "--json", cwd=cancer)
    assert result.exit_code == 1
    check = json.loads(result.stdout)
    gate = next(g for g in check["gates"] if g["kind"] == "validation")
    assert gate["name"] == "holdout data is valid"
    assert gate["status"] == "failed"
    assert "mean radius: range" in gate["detail"]
    assert check["validation"][0]["passed"] is False


def test_robustness_of_a_model_without_signature_leaves_the_sensitive_column_out(
    cli, cancer: Path
) -> None:
    train = pd.read_csv(cancer / "data" / "train.csv")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(train.drop(columns="target"), train["target"])
    with cv.start_run():
        cv.log_model(model, "model")  # no input example: no signature
    tracking.close_stores()
    check = json.loads(cli("check", "--json", cwd=cancer).stdout)
    robust = next(g for g in check["gates"] if g["kind"] == "robustness")
    assert robust["status"] == "passed", robust["detail"]
    assert "clinic" not in robust["evidence"]["columns"]


def test_report_of_the_check_a_file_names(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "-o", "first.json", cwd=cancer).exit_code == 0
    first = json.loads((cancer / "first.json").read_text())["run_id"]
    log_model(cancer, c=0.3)
    assert cli("check", cwd=cancer).exit_code == 0
    result = cli("report", "--check-file", "first.json", "-o", "out", cwd=cancer)
    assert result.exit_code == 0, result.output
    assert f"`{first}`" in (cancer / "out" / "report.md").read_text()
    missing = cli("report", "--check-file", "nope.json", cwd=cancer)
    assert missing.exit_code == 1
    assert "nope.json does not exist" in missing.stderr


@pytest.mark.postgres
def test_check_promote_and_report_on_postgresql(
    cli, cancer: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_DB_URL", pg_url)
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    log_model(cancer, c=0.3)
    result = cli("check", "--promote", "challenger", "--json", cwd=cancer)
    assert result.exit_code == 0, result.stderr
    check = json.loads(result.stdout)
    assert check["champion"] == {**check["champion"], "name": "cancer", "version": 1}
    assert check["promoted"]["version"] == 2
    assert (check["candidate"]["name"], check["candidate"]["version"]) == ("cancer", 2)
    assert check["lineage"][0].startswith("cancer/2")
    tracking.close_stores()
    assert cli("report", "-o", "out", cwd=cancer).exit_code == 0
    assert check["run_id"] in (cancer / "out" / "report.md").read_text()
    assert not (cancer / ".conveyor" / "conveyor.db").exists()  # nothing went to SQLite


def test_gates_of_the_same_kind_and_name_are_told_apart(cli, cancer: Path) -> None:
    log_model(cancer)
    _edit(
        cancer,
        "    - {column: clinic, metric: equal_opportunity, max_gap: 0.3, min_group_size: 10}\n",
        "    - {column: clinic, metric: equal_opportunity, max_gap: 0.3, min_group_size: 10}\n"
        "    - {column: clinic, metric: equal_opportunity, max_gap: 0.3, min_group_size: 20}\n",
    )
    check = json.loads(cli("check", "--json", cwd=cancer).stdout)
    names = [g["name"] for g in check["gates"] if g["kind"] == "fairness"]
    assert names == ["equal_opportunity by clinic", "equal_opportunity by clinic #2"]


def test_a_compared_metric_of_another_task_names_its_line(cli, cancer: Path) -> None:
    log_model(cancer)
    assert cli("check", "--promote", "champion", cwd=cancer).exit_code == 0
    _edit(cancer, "{metric: roc_auc, mode", "{metric: f1_macro, mode")
    result = cli("check", cwd=cancer)
    assert result.exit_code == 1
    assert "gates.champion.compare[0].metric:" in result.stderr
    assert "f1_macro" in result.stderr
