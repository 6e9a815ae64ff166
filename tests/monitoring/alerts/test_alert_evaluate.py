"""Each kind of rule judged from real data: inputs and labels written by the gateway's
prediction and label logs, requests counted by its outcome recorder, a model registered
with reference data and a logged metric; and the versions a rule watches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.errors import NotFoundError
from conveyor.monitoring.alerts.config import AlertRule
from conveyor.monitoring.alerts.evaluate import evaluate, watched_versions
from conveyor.monitoring.labels import Label
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.recorder import OutcomeRecorder
from conveyor.serving.feedback import LabelLog
from conveyor.serving.predlog import PredictionLog

NOW = datetime.now(UTC).replace(microsecond=0)
EARLIER = NOW - timedelta(hours=3)  # the performance test's own hour: no drift test's rows
COLUMNS = [f"f{i:02d}" for i in range(12)]


def frame(seed: int, rows: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {c: rng.normal(0, 1, rows) + (shift or {}).get(c, 0.0) for c in COLUMNS}
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``churn`` version 1 (champion) and 2, logged with reference data and accuracy 0.95."""
    root = tmp_path_factory.mktemp("alerts") / "project"
    root.mkdir()
    (root / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n', encoding="utf-8")
    x = frame(1, 1500)
    model = LogisticRegression().fit(x, (x["f00"] > 0).astype(int))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONVEYOR_DB_URL", raising=False)
        patch.delenv("CONVEYOR_ARTIFACTS", raising=False)
        patch.chdir(root)
        for _ in range(2):
            with cv.start_run():
                cv.log_metrics({"accuracy": 0.95})
                cv.log_model(model, "model", input_example=x.head(3), reference_data=x)
            tracking.close_stores()
            assert main(["models", "register", "latest", "--name", "churn"]) == 0
        assert main(["models", "promote", "churn", "1", "--to", "champion"]) == 0
    return root


@pytest.fixture
def ctx(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    context = Context.resolve(start=project)
    yield context
    context.close()


def log_inputs(ctx: Context, inputs: pd.DataFrame, version: int = 1) -> None:
    """The gateway's prediction log, one batch request of ``inputs`` ten minutes ago."""
    log = PredictionLog(ctx.artifacts_url)
    at = NOW - timedelta(minutes=10)
    rid = f"drift-{version}-{len(inputs)}-{inputs.iloc[0, 0]:.6f}"
    outputs = np.zeros(len(inputs), dtype=np.int64)  # class labels, as the model answers
    log.observe(Prediction(rid, "churn", version, inputs, outputs, 0.01, at))
    log.close()


def rule(**given: object) -> AlertRule:
    return AlertRule.model_validate({"name": "r", "model": "churn", **given})


def test_drift_holds_for_shifted_inputs_with_gauges_capped_most_drifted_first(ctx: Context) -> None:
    log_inputs(ctx, frame(2, 400, shift={"f03": 3.0, "f07": 1.5}), version=2)
    seen = evaluate(ctx, rule(when="drift"), "churn", 2, NOW, max_features=4)

    assert seen.holds is True
    assert seen.value == 2.0
    assert seen.evidence["drifted_features"] == ["f03", "f07"]
    assert seen.summary.startswith("churn v2: 2 of 12 features drifted (f03, f07)")
    assert seen.features is not None
    assert [g.feature for g in seen.features][:2] == ["f03", "f07"]
    assert len(seen.features) == 4  # max_features
    top = seen.features[0]
    assert (top.model, top.version, top.drifted, top.missing_share) == ("churn", 2, True, 0.0)
    assert top.score is not None
    assert top.score > 1.0
    assert top.p_value is not None
    assert top.p_value < 1e-6
    assert [g.drifted for g in seen.features[2:]] == [False, False]

    needs_three = evaluate(ctx, rule(when="drift", min_features=3), "churn", 2, NOW)
    assert needs_three.holds is False


def test_drift_of_unshifted_inputs_or_no_inputs(ctx: Context) -> None:
    log_inputs(ctx, frame(3, 400), version=1)
    assert evaluate(ctx, rule(when="drift"), "churn", 1, NOW).holds is False
    empty = evaluate(ctx, rule(when="drift"), "churn", 1, NOW - timedelta(days=2))
    assert empty.holds is None
    assert "insufficient data: no predictions" in empty.summary


def log_labelled(ctx: Context, version: int, predicted: int, labelled: int, wrong: int) -> None:
    """``predicted`` logged predictions of class 1, the first ``labelled`` of them labelled
    through the gateway's label log, ``wrong`` of those as class 0."""
    predlog, labels = PredictionLog(ctx.artifacts_url), LabelLog(ctx.artifacts_url)
    start = EARLIER - timedelta(minutes=30)
    inputs = frame(4, 1)
    for i in range(predicted):
        rid = f"perf-{version}-{i}"
        at = start + timedelta(seconds=i)
        predlog.observe(Prediction(rid, "churn", version, inputs, np.array([1]), 0.01, at))
        if i < labelled:
            truth = "0" if i < wrong else "1"  # JSON text, as POST /feedback keeps it
            labels.record([Label(rid, truth, at + timedelta(minutes=1), "churn")])
    predlog.close()
    labels.close()


def test_performance_below_a_floor_and_against_the_runs_own_metric(ctx: Context) -> None:
    log_labelled(ctx, version=2, predicted=100, labelled=60, wrong=15)
    window = {"when": "performance", "window": "1h"}

    below = evaluate(ctx, rule(**window, below=0.85), "churn", 2, EARLIER)
    assert (below.holds, below.value) == (True, 0.75)
    assert below.evidence["n"] == 60
    assert below.evidence["predicted"] == 100
    assert below.summary.startswith("churn v2: accuracy 0.750 (below 0.85) on 60 labelled rows")
    assert [(m.metric, m.value, m.n) for m in below.metrics] == [("accuracy", 0.75, 60)]

    drop = evaluate(ctx, rule(**window, drop=0.03), "churn", 2, EARLIER)
    assert drop.holds is True
    assert drop.evidence["reference"] == 0.95
    assert drop.evidence["worse_by"] == pytest.approx(0.2)
    assert evaluate(ctx, rule(**window, drop=0.25), "churn", 2, EARLIER).holds is False

    few = evaluate(ctx, rule(**window, below=0.85, min_labels=61), "churn", 2, EARLIER)
    assert few.holds is None
    assert "60 labelled rows" in few.summary

    with pytest.raises(NotFoundError, match="logged no metric 'f1'"):
        evaluate(ctx, rule(**window, drop=0.1, reference_metric="f1"), "churn", 2, EARLIER)


def test_latency_and_error_rate_from_the_gateways_outcome_windows(ctx: Context) -> None:
    at = (NOW - timedelta(minutes=2)).timestamp()
    recorder = OutcomeRecorder(ctx.store.signals, writer="gateway-test", clock=lambda: at)
    for i in range(50):
        status = 504 if i < 2 else (422 if i < 6 else 200)
        recorder.record("churn", 2, status, 0.4 if i < 5 else 0.02)
    recorder.flush(everything=True)

    slow = evaluate(ctx, rule(when="latency", p99_above="250ms"), "churn", 2, NOW)
    assert slow.holds is True
    assert 0.3 < (slow.value or 0) < 0.54  # within one histogram bin of 0.4 s
    assert evaluate(ctx, rule(when="latency", p50_above="250ms"), "churn", 2, NOW).holds is False

    errors = evaluate(ctx, rule(when="error_rate", above=0.05), "churn", 2, NOW)
    assert (errors.holds, errors.value) == (False, 0.04)  # 2 timeouts of 50; 4xx not counted
    with_clients = rule(when="error_rate", above=0.05, client_errors=True)
    assert evaluate(ctx, with_clients, "churn", 2, NOW).value == 0.12

    idle = evaluate(ctx, rule(when="no_traffic"), "churn", 2, NOW)
    assert (idle.holds, idle.value) == (False, 50.0)
    assert evaluate(ctx, rule(when="no_traffic"), "churn", 1, NOW).holds is True


def test_the_versions_a_rule_watches(ctx: Context) -> None:
    assert watched_versions(ctx, "churn") == [1]  # no routing table: the champion
    assert watched_versions(ctx, "churn@champion") == [1]
    assert watched_versions(ctx, "models:/churn/2") == [2]
    traffic.set_traffic(ctx, "churn", {1: 100, 2: 0})
    assert watched_versions(ctx, "churn") == [1]  # a route without weight is not watched
    traffic.set_traffic(ctx, "churn", {1: 90, 2: 10})
    assert watched_versions(ctx, "churn") == [1, 2]
    with pytest.raises(NotFoundError, match="has no alias 'staging'"):
        watched_versions(ctx, "churn@staging")
