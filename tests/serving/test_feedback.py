"""Delayed labels end to end: a live gateway, POST /feedback, the labels log, the join and
the realized metrics (``conveyor monitor performance``)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.monitoring.labels import Label, read_labels
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.performance import performance_report
from conveyor.serving.app import create_app
from conveyor.serving.feedback import MAX_LABELS, LabelLog
from conveyor.serving.predlog import PredictionLog
from conveyor.settings import Settings

YEAR = timedelta(weeks=52)  # one window holds the whole test


@pytest.fixture
def ctx(served, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """The served project's context: its registry and artifact store (where logs go)."""
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(served.root)
    context = Context.resolve()
    yield context
    context.close()


class Gateway:
    """The app with a prediction log and a labels log into one artifact store, and a client."""

    def __init__(self, served: Any, url: str, mask: tuple[str, ...] = (), **options: Any) -> None:
        self.predlog = PredictionLog(url, mask=mask)
        self.labels = LabelLog(url)
        self.app = create_app(
            served.pool, observers=[self.predlog], feedback=self.labels, **options
        )
        self.features = served.features

    def send(self, calls: list[tuple[str, str, Any]]) -> list[httpx.Response]:
        async def run() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                return [await http.request(m, u, **{k: v}) for m, u, (k, v) in calls]

        return anyio.run(run)

    def predict(self, rows: list[int]) -> list[httpx.Response]:
        calls = [
            ("POST", "/v1/models/cancer:predict", ("json", {"instances": [self._row(i)]}))
            for i in rows
        ]
        return self.send(calls)

    def feedback(self, body: Any, raw: bool = False) -> httpx.Response:
        """POST /feedback with ``body`` as JSON, or (``raw``) as the bytes given."""
        sent = ("content", body) if raw else ("json", body)
        return self.send([("POST", "/feedback", sent)])[0]

    def _row(self, i: int) -> list[float]:
        return [float(x) for x in self.features.iloc[i]]

    def close(self) -> None:
        self.predlog.close()
        self.labels.close()


def test_labels_give_the_accuracy_counted_by_hand_with_a_wilson_interval(served, ctx) -> None:
    from sklearn.datasets import load_breast_cancer

    truth = load_breast_cancer().target
    since = datetime.now(UTC)
    gateway = Gateway(served, ctx.artifacts_url)
    rows = list(range(40))
    answers = gateway.predict(rows)
    assert all(a.status_code == 200 for a in answers)
    ids = [a.headers["x-request-id"] for a in answers]
    predicted = [a.json()["predictions"][0] for a in answers]
    version = int(answers[0].headers["x-conveyor-model-version"])
    labelled = rows[:25]
    labels = [int(truth[i]) for i in labelled]
    for i in (0, 3, 7, 11, 19):  # some deliberately wrong
        labels[i] = 1 - labels[i]
    body: list[dict[str, Any]] = [
        {"request_id": ids[i], "label": label} for i, label in zip(labelled, labels, strict=True)
    ]
    body[1]["label"] = str(body[1]["label"])  # "1" and 1 are the same class
    body.append({"request_id": "never-answered", "label": 1, "model": "cancer"})
    accepted = gateway.feedback(body)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"accepted": 26}
    assert "x-request-id" in accepted.headers
    gateway.close()
    files = list(Path(ctx.artifacts_url.removeprefix("file://")).glob("labels/date=*/*.parquet"))
    assert files, "the labels log wrote nothing on close"
    until = datetime.now(UTC) + timedelta(seconds=1)

    report = performance_report(ctx, "cancer", window=YEAR, since=since, until=until)

    assert report.task == "classification"
    assert report.unmatched_labels == 1
    (window,) = report.windows
    assert (window.version, window.role) == (version, "primary")
    assert (window.predicted, window.labelled) == (40, 25)
    assert window.coverage == pytest.approx(25 / 40)
    hits = sum(predicted[i] == label for i, label in zip(labelled, labels, strict=True))
    realized = {m.name: m for m in window.metrics}
    assert realized["accuracy"].value == hits / 25
    assert realized["accuracy"].n == 25
    expected = binomtest(hits, 25).proportion_ci(0.95, method="wilson")
    assert realized["accuracy"].low == pytest.approx(expected.low, abs=1e-12)
    assert realized["accuracy"].high == pytest.approx(expected.high, abs=1e-12)
    assert not realized["accuracy"].estimated
    assert 0.5 < realized["roc_auc"].value <= 1.0  # binary, both classes labelled
    # the estimate: the mean probability of the predicted class, recomputed by the model
    proba = served.models[version].predict_proba(served.features.iloc[rows])
    assert window.estimate is not None
    assert window.estimate.estimated
    assert window.estimate.value == pytest.approx(proba.max(axis=1).mean())


def test_a_window_without_labels_gets_only_the_estimate_marked_as_such(served, ctx) -> None:
    since = datetime.now(UTC)
    gateway = Gateway(served, ctx.artifacts_url)
    gateway.predict([100, 101, 102])
    gateway.close()
    report = performance_report(
        ctx, "cancer", window=YEAR, since=since, until=datetime.now(UTC) + timedelta(seconds=1)
    )
    (window,) = report.windows
    assert (window.predicted, window.labelled, window.metrics) == (3, 0, [])
    assert window.estimate is not None
    assert window.estimate.to_dict()["estimated"] is True
    assert "calibrated" in report.to_dict()["estimate_assumption"]


def test_a_one_row_window_and_an_empty_range_do_not_crash(served, ctx) -> None:
    since = datetime.now(UTC)
    gateway = Gateway(served, ctx.artifacts_url)
    (answer,) = gateway.predict([5])
    request_id = answer.headers["x-request-id"]
    assert gateway.feedback({"request_id": request_id, "label": 0}).status_code == 202
    gateway.close()
    until = datetime.now(UTC) + timedelta(seconds=1)
    (window,) = performance_report(ctx, "cancer", window=YEAR, since=since, until=until).windows
    assert (window.predicted, window.labelled) == (1, 1)
    assert window.metrics[0].n == 1
    assert 0 <= window.metrics[0].low <= window.metrics[0].high <= 1
    empty = performance_report(ctx, "cancer", since=until + YEAR, until=until + 2 * YEAR)
    assert empty.windows == []
    assert empty.unmatched_labels == 0


def test_masked_inputs_give_no_estimate_and_odd_labels_are_counted(served, ctx) -> None:
    since = datetime.now(UTC)
    gateway = Gateway(served, ctx.artifacts_url, mask=("mean radius",))
    answers = gateway.predict([300, 301])
    ids = [a.headers["x-request-id"] for a in answers]
    body = [{"request_id": ids[0], "label": "spam"}, {"request_id": ids[1], "label": True}]
    assert gateway.feedback(body).status_code == 202
    gateway.close()
    until = datetime.now(UTC) + timedelta(seconds=1)
    (window,) = performance_report(ctx, "cancer", window=YEAR, since=since, until=until).windows
    assert (window.labelled, window.invalid_labels) == (2, 1)  # "spam" is no class of 0/1
    assert window.metrics[0].n == 1
    assert window.metrics[0].value == float(answers[1].json()["predictions"][0] == 1)
    assert window.estimate is None
    assert "mean radius" in (window.estimate_note or "")
    assert "masked" in (window.estimate_note or "")


def test_late_labels_count_within_the_delay_and_not_after(tmp_path) -> None:
    at = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)
    predlog, labels = PredictionLog(str(tmp_path)), LabelLog(str(tmp_path))
    for request_id, output in (("a", 2.5), ("b", 4.5)):
        inputs = pd.DataFrame({"x": [1.0]})
        predlog.observe(Prediction(request_id, "m", 1, inputs, np.array([output]), 0.001, at))
    labels.record([Label("a", "3.0", at + timedelta(hours=2))])  # late, within a day
    labels.record([Label("b", "6", at + timedelta(days=3))])  # later than a day
    predlog.close()
    labels.close()
    ctx = Context(Settings(artifacts_url=str(tmp_path)), None, base=tmp_path)
    hour = timedelta(hours=1)

    def report(max_delay: timedelta) -> Any:
        return performance_report(
            ctx,
            "m",
            window=hour,
            since=at - at.minute * timedelta(minutes=1),
            until=at + hour,
            max_delay=max_delay,
        )

    within_a_day = report(timedelta(days=1))
    assert within_a_day.task == "regression"
    (window,) = within_a_day.windows
    assert (window.predicted, window.labelled) == (2, 1)
    assert {m.name: m.value for m in window.metrics} == {"mae": 0.5, "rmse": 0.5}
    assert window.estimate is None
    assert "classifiers" in (window.estimate_note or "")
    (window,) = report(timedelta(days=7)).windows
    metrics = {m.name: m for m in window.metrics}
    assert window.labelled == 2
    assert metrics["mae"].value == pytest.approx(1.0)
    assert metrics["rmse"].value == pytest.approx(math.sqrt((0.25 + 2.25) / 2))
    assert metrics["mae"].low is not None
    assert metrics["mae"].low <= 1.0 <= metrics["mae"].high


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": 1}, "request_id"),
        ({"request_id": "r", "label": [1, 2]}, "label"),
        ({"request_id": "r", "label": None}, "label"),
        ({"request_id": "r"}, "label"),
        ({"request_id": "r", "label": 1, "extra": 2}, "extra"),
        ({"request_id": "r", "label": 1, "row": -1}, "row"),
        ([{"request_id": "r", "label": 1}, {"request_id": "s", "label": {"a": 1}}], "[1].label"),
        ([{"request_id": "r", "label": 1}, "r"], "[1]"),
        ([], "body"),
        (7, "body"),
    ],
)
def test_malformed_feedback_is_422_naming_the_item_and_field(served, tmp_path, body, field):
    gateway = Gateway(served, str(tmp_path))
    answer = gateway.feedback(body)
    gateway.close()
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert str(tmp_path) not in answer.text
    assert "Traceback" not in answer.text
    assert read_labels(str(tmp_path)).empty  # a batch is taken whole or not at all


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_labels_are_422_not_a_malformed_body(served, tmp_path, number) -> None:
    gateway = Gateway(served, str(tmp_path))
    raw = f'[{{"request_id": "a", "label": 1}}, {{"request_id": "b", "label": {number}}}]'
    answer = gateway.feedback(raw.encode(), raw=True)
    gateway.close()
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "[1].label"


def test_too_many_labels_or_too_large_a_body_is_refused(served, tmp_path) -> None:
    gateway = Gateway(served, str(tmp_path), max_body_bytes=2000)
    many = [{"request_id": "r", "label": 1}] * (MAX_LABELS + 1)
    assert gateway.feedback(many).status_code == 413  # the body limit comes first
    gateway.close()
    roomy = Gateway(served, str(tmp_path))
    answer = roomy.feedback(many)
    roomy.close()
    assert answer.status_code == 422
    assert str(MAX_LABELS) in answer.json()["error"]


def test_monitor_performance_json(served, ctx, capsys) -> None:
    since = datetime.now(UTC)
    gateway = Gateway(served, ctx.artifacts_url)
    answers = gateway.predict([200, 201])
    gateway.feedback([{"request_id": answers[0].headers["x-request-id"], "label": 1}])
    gateway.close()
    code = main(
        [
            "monitor",
            "performance",
            "cancer",
            "--window",
            "1w",
            "--since",
            since.isoformat(),
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "cancer"
    assert sum(w["predicted"] for w in report["windows"]) == 2
    assert sum(w["labelled"] for w in report["windows"]) == 1
    assert all(w["estimate"]["estimated"] for w in report["windows"])
    assert main(["monitor", "performance", "cancer", "--since", since.isoformat()]) == 0
    assert "ESTIMATE" in capsys.readouterr().out
    assert main(["monitor", "performance", "cancer", "--window", "soon"]) == 1
    assert np.isfinite(report["windows"][0]["coverage"])
