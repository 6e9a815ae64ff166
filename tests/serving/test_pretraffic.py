"""Pre-traffic checks on real saved models: smoke on the stored example and its recorded
outputs, compatibility with what the stable version's clients send, and a bounded load test."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conveyor.config import OperationalGates
from conveyor.errors import PreTrafficFailed
from conveyor.ids import utcnow
from conveyor.modelpack import load_model_dir, save_model
from conveyor.serving.pool import Served
from conveyor.serving.pretraffic import compatibility, load_test, pretraffic, smoke_test

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
DROPPED = "mean radius"


def _served(directory: Path, version: int, *, trusted: bool = False) -> Served:
    """The version as the gateway's pool holds it."""
    model = load_model_dir(directory, trusted=trusted)
    return Served("cancer", version, f"models:/cancer/{version}", model, utcnow(), 0.0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1: a logistic regression on breast-cancer, with an example and reference data."""
    directory = tmp_path_factory.mktemp("pretraffic") / "v1"
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    save_model(pipe, directory, input_example=X.head(5), reference_data=X)
    return directory


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    """A copy of version 1 to tamper with."""
    return Path(shutil.copytree(saved, tmp_path / "v2"))


def _rewrite(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_good_candidate_passes_every_check(saved: Path) -> None:
    stable, candidate = _served(saved, 1), _served(saved, 2)
    report = pretraffic(
        candidate, stable=stable, budget=OperationalGates(latency_p95_ms=1000), requests=50
    )
    assert report.passed, report.as_dict()
    assert [check.name for check in report.checks] == ["smoke", "compatibility", "load"]
    load = report.checks[2].evidence
    assert load["requests"] == 50
    assert load["p50_ms"] <= load["p95_ms"] <= load["p99_ms"]
    assert json.loads(json.dumps(report.as_dict()))["passed"] is True
    report.raise_if_failed()  # nothing to raise


def test_outputs_that_differ_from_the_recorded_ones_fail_smoke_naming_the_row(
    copy: Path,
) -> None:
    def flip(data: dict[str, Any]) -> None:
        data["data"][3] = 1 - data["data"][3]

    _rewrite(copy / "example_output.json", flip)
    report = pretraffic(_served(copy, 2), requests=30)
    smoke = report.checks[0]
    assert not smoke.passed
    assert "row 3 of its input example" in smoke.message
    assert smoke.evidence["row"] == 3
    assert smoke.evidence["comparison"] == "labels exactly"
    with pytest.raises(PreTrafficFailed, match="version 2 is refused before any traffic") as err:
        report.raise_if_failed()
    assert err.value.report is report
    assert "smoke: model 'cancer' version 2 predicts" in str(err.value)


def test_float_outputs_are_compared_within_the_stated_tolerance(tmp_path: Path) -> None:
    features, target = load_diabetes(return_X_y=True, as_frame=True)
    save_model(LinearRegression().fit(features, target), tmp_path / "m", input_example=features[:4])
    path = tmp_path / "m" / "example_output.json"
    recorded = json.loads(path.read_text())["data"]

    def shifted(relative: float) -> bool:
        _rewrite(path, lambda data: data.update(data=[v * (1 + relative) for v in recorded]))
        return smoke_test(_served(tmp_path / "m", 1)).passed

    assert shifted(1e-9)  # a few ulps of arithmetic: the same model
    assert not shifted(1e-4)  # a different model
    assert "rtol 1e-06, atol 1e-09" in smoke_test(_served(tmp_path / "m", 1)).message


def test_a_candidate_trained_without_a_column_fails_compatibility(
    saved: Path, tmp_path: Path
) -> None:
    fewer = X.drop(columns=DROPPED)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(fewer, y)
    save_model(pipe, tmp_path / "v2", input_example=fewer[:5])
    candidate = _served(tmp_path / "v2", 2)
    check = compatibility(candidate, _served(saved, 1))
    assert not check.passed
    assert check.evidence["column"] == DROPPED
    assert f"column {DROPPED!r}" in check.message
    assert "model 'cancer' version 2 refuses the input example of model 'cancer' version 1" in (
        check.message
    )
    assert smoke_test(candidate).passed  # the candidate is fine on its own inputs


class Echo:
    """Predicts its first column, doubled; ``delay_s`` sleeps per call."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay_s)
        return np.asarray(data.iloc[:, 0], dtype=float) * 2


def test_a_retyped_column_fails_compatibility(tmp_path: Path) -> None:
    words = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    save_model(Echo(), tmp_path / "v1", flavor="pyfunc", input_example=words)
    save_model(Echo(), tmp_path / "v2", flavor="pyfunc", input_example=words.assign(b=[0.5, 1.5]))
    check = compatibility(
        _served(tmp_path / "v2", 2, trusted=True), _served(tmp_path / "v1", 1, trusted=True)
    )
    assert not check.passed
    assert check.evidence["column"] == "b"
    assert "must hold float64 numbers" in check.message


def test_without_a_stable_version_compatibility_has_nothing_to_check(saved: Path) -> None:
    check = compatibility(_served(saved, 1), None)
    assert check.passed
    assert "no stable version" in check.message


def test_a_slow_model_fails_the_load_test_with_its_p95_and_the_budget(tmp_path: Path) -> None:
    example = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    save_model(Echo(delay_s=0.02), tmp_path / "slow", flavor="pyfunc", input_example=example)
    started = time.monotonic()
    check = load_test(
        _served(tmp_path / "slow", 1, trusted=True),
        OperationalGates(latency_p95_ms=5),
        time_budget_s=0.6,
    )
    assert time.monotonic() - started < 3  # bounded by the time budget, not by 200 requests
    assert not check.passed
    assert check.evidence["p95_ms"] >= 20
    assert check.evidence["budget_p95_ms"] == 5
    assert check.evidence["requests"] < 200
    assert "is over the budget of 5 ms" in check.message


def test_without_a_budget_the_load_test_measures_and_says_so(saved: Path) -> None:
    check = load_test(_served(saved, 1), None, requests=30)
    assert check.passed
    assert "sets no p95 budget" in check.message
    assert check.evidence["requests"] == 30


def test_an_old_model_without_recorded_outputs_still_gets_a_smoke_check(copy: Path) -> None:
    _rewrite(copy / "conveyor-model.json", lambda data: data.pop("example_output"))
    (copy / "example_output.json").unlink()
    check = smoke_test(_served(copy, 2))
    assert check.passed
    assert "expected outputs not checked" in check.message
    assert check.evidence["expected"] is None
    assert check.evidence["rows"] == 5


class Overflow:
    """Answers infinity: what JSON would carry as null."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.full(len(data), np.inf)


def test_a_model_answering_infinity_fails_smoke(tmp_path: Path) -> None:
    save_model(
        Overflow(), tmp_path / "m", flavor="pyfunc", input_example=pd.DataFrame({"a": [1.0]})
    )
    check = smoke_test(_served(tmp_path / "m", 1, trusted=True))
    assert not check.passed
    assert "gave a non-finite output for row 0" in check.message


def test_a_model_too_slow_for_a_sample_fails_within_twice_the_time_budget(tmp_path: Path) -> None:
    save_model(
        Echo(delay_s=0.2), tmp_path / "m", flavor="pyfunc", input_example=pd.DataFrame({"a": [1.0]})
    )
    started = time.monotonic()
    check = load_test(_served(tmp_path / "m", 1, trusted=True), None, time_budget_s=0.3)
    assert time.monotonic() - started < 1.6  # warm-up and timed requests each stop at 0.3 s
    assert not check.passed
    assert "at least 20 are needed to judge p95" in check.message
