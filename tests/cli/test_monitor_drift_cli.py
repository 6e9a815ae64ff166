"""``conveyor monitor drift``: offline on two files, and live on the prediction log of a
registered version against its reference.parquet."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.monitoring.observation import Prediction
from conveyor.serving.predlog import PredictionLog

ROWS = 1500


def frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 10, ROWS),
            "plan": rng.choice(["basic", "pro", "team"], ROWS),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    frame(1).to_csv(tmp_path / "ref.csv", index=False)
    frame(2).to_parquet(tmp_path / "same.parquet")
    frame(3, shift=5.0).to_csv(tmp_path / "shifted.csv", index=False)
    return tmp_path


def drift(*args: object) -> int:
    return main(["monitor", "drift", *map(str, args)])


def test_no_drift_exits_0_and_json_says_so(files: Path, capsys) -> None:
    code = drift("--reference", files / "ref.csv", "--current", files / "same.parquet", "--json")
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["drifted"] is False
    assert {f["name"] for f in report["features"]} == {"age", "plan"}


def test_a_shifted_column_exits_1_naming_it(files: Path, capsys) -> None:
    code = drift("--reference", files / "ref.csv", "--current", files / "shifted.csv", "--json")
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["drifted_features"] == ["age"]
    assert drift("--reference", files / "ref.csv", "--current", files / "shifted.csv") == 1
    printed = capsys.readouterr().out
    assert "drift: 1 of 2 features drifted (age)" in printed
    assert "Rule:" in printed


def test_columns_and_bonferroni_are_passed_through(files: Path, capsys) -> None:
    code = drift(
        "--reference", files / "ref.csv", "--current", files / "shifted.csv",
        "--columns", "plan", "--correction", "bonferroni", "--json",
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [f["name"] for f in report["features"]] == ["plan"]
    assert report["correction"] == "bonferroni"


def test_a_missing_file_is_named_without_a_traceback(files: Path, capsys) -> None:
    code = drift("--reference", files / "nope.csv", "--current", files / "shifted.csv")
    err = capsys.readouterr().err
    assert code == 1
    assert "nope.csv does not exist" in err
    assert "Traceback" not in err


def test_model_and_files_together_are_refused(files: Path, capsys) -> None:
    assert drift("churn", "--reference", files / "ref.csv") == 1
    assert "either MODEL" in capsys.readouterr().err


def test_out_writes_the_report_and_one_plot_per_drifted_feature(files: Path, capsys) -> None:
    out = files / "report"
    code = drift("--reference", files / "ref.csv", "--current", files / "shifted.csv", "-o", out)
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["drift-age.png", "report.md"]
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "drift: 1 of 2 features drifted (age)" in text
    assert "![age: reference vs current](drift-age.png)" in text
    assert (out / "drift-age.png").read_bytes().startswith(b"\x89PNG")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with ``churn`` version 1 (the champion) logged with reference data."""
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n', encoding="utf-8")
    x = frame(1)[["age"]]
    model = LogisticRegression().fit(x, (x["age"] > 40).astype(int))
    with cv.start_run():
        cv.log_model(model, "model", input_example=x.head(3), reference_data=x)
    tracking.close_stores()
    assert main(["models", "register", "latest", "--name", "churn"]) == 0
    assert main(["models", "promote", "churn", "1", "--to", "champion"]) == 0
    return tmp_path


def log_traffic(inputs: pd.DataFrame, outputs: np.ndarray | None = None) -> None:
    """Log ``inputs`` as the gateway does: one batch prediction of churn version 1, now
    (the outputs are what the model answers, about ``age > 40``, unless given)."""
    ctx = Context.resolve()
    log = PredictionLog(ctx.artifacts_url)
    ctx.close()
    now = datetime.now(UTC)
    answers = (inputs["age"] > 40).astype(int).to_numpy() if outputs is None else outputs
    log.observe(Prediction("r1", "churn", 1, inputs, answers, 0.01, now))
    log.close()


def test_live_drift_compares_logged_inputs_with_the_reference(project: Path, capsys) -> None:
    log_traffic(frame(4, shift=8.0)[["age"]].head(500))
    code = drift("churn", "--window", "1h", "--json")
    report = json.loads(capsys.readouterr().out)
    assert code == 1, report
    assert (report["model"], report["version"]) == ("churn", 1)
    assert report["n_current"] == 500
    assert report["n_reference"] == ROWS
    assert report["drifted_features"] == ["age"]


def test_live_drift_without_drift_and_by_version(project: Path, capsys) -> None:
    log_traffic(frame(5)[["age"]].head(500))
    assert drift("churn@champion", "--json") == 0
    assert json.loads(capsys.readouterr().out)["drifted"] is False
    assert drift("churn", "--version", "1") == 0
    assert "no drift" in capsys.readouterr().out


def test_an_empty_window_is_insufficient_data_not_drift(project: Path, capsys) -> None:
    assert drift("churn", "--window", "30m") == 0
    assert "insufficient data: no predictions of churn version 1" in capsys.readouterr().out
    assert drift("churn", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "insufficient_data"
