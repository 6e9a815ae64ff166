"""Alerts end to end through the gateway: predictions, refused requests and labels sent to the
app as `conveyor serve` wires it (prediction log, outcome windows, labels log, metrics), one
pass of the monitor loop, signed webhooks at a receiver on loopback, and the loop's gauges
on the same gateway's /metrics, read from the store at most every 15 s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from tests.notify.conftest import Receiver, receiver  # noqa: F401  (the fixture)
from tests.serving.conftest import copy_project

from conveyor.context import Context
from conveyor.monitoring.alerts.gauges import MonitorGauges
from conveyor.monitoring.alerts.service import run_once
from conveyor.notify import verify_signature
from conveyor.serving.app import create_app
from conveyor.serving.metrics import GatewayMetrics
from conveyor.serving.predlog import LogOptions
from conveyor.serving.routing import Router
from conveyor.serving.watcher import build_observers
from conveyor.store.entities import FeatureGauge

SECRET = "gateway-hook-secret"
RULES = """\
stages:
  noop: {{cmd: "true"}}
notify:
  - webhook: {{name: ops, url: "{url}", secret_env: HOOK_SECRET, allow_private: true}}
monitor:
  alerts:
    - {{name: cancer-accuracy, model: cancer/2, when: performance, below: 0.9, window: 1h,
        min_labels: 10, severity: critical}}
    - {{name: cancer-errors, model: cancer/2, when: error_rate, above: 0.1, client_errors: true,
        min_requests: 5, notify: [ops]}}
"""
NAMES = {
    "conveyor_drift_score",
    "conveyor_drift_p_value",
    "conveyor_drift_detected",
    "conveyor_feature_missing_share",
    "conveyor_model_performance",
    "conveyor_alerts_open",
}


@pytest.fixture
def ctx(
    served: Any,
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Context]:
    """A copy of the served project (no other test's logs), with alert rules."""
    root = tmp_path / "project"
    copy_project(served.root, root)
    (root / "conveyor.yaml").write_text(RULES.format(url=receiver.url), encoding="utf-8")
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    context = Context.resolve(start=root)
    yield context
    context.close()


def _send(app: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"X-Conveyor-Version": "2"}
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return [await http.post(path, json=body, headers=headers) for path, body in calls]

    return anyio.run(run)


def _scrape(app: Any) -> dict[str, list[Any]]:
    async def run() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return (await http.get("/metrics")).text

    text = anyio.run(run)
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_gateway_traffic_fires_alerts_and_metrics_show_the_loops_gauges(
    served: Any,
    ctx: Context,
    receiver: Receiver,  # noqa: F811
) -> None:
    metrics = GatewayMetrics()
    observers = build_observers(served.pool, Router(), ctx, LogOptions(), metrics)
    app = create_app(
        served.pool,
        observers=observers.all(),
        metrics=metrics,
        outcomes=observers.outcomes,
        feedback=observers.labels,
    )
    rows = [[float(x) for x in served.features.iloc[i]] for i in range(30)]
    answers = _send(app, [("/v1/models/cancer:predict", {"instances": [r]}) for r in rows])
    refused = _send(app, [("/v1/models/cancer:predict", {"instances": [[1.0]]})] * 5)
    assert {a.status_code for a in answers} == {200}
    assert {a.status_code for a in refused} == {422}
    truth = load_breast_cancer().target
    labels = [
        {"request_id": a.headers["x-request-id"], "label": int(truth[i]) ^ (1 if i < 8 else 0)}
        for i, a in enumerate(answers[:20])  # 8 of 20 labelled wrong on purpose
    ]
    assert _send(app, [("/feedback", labels)])[0].status_code == 202  # type: ignore[arg-type]
    right = sum(
        a.json()["predictions"][0] == b["label"] for a, b in zip(answers, labels, strict=False)
    )
    observers.close()  # the logs and the outcome windows are written

    report = run_once(ctx)

    assert sorted(a.rule for a in report.firing) == ["cancer-accuracy", "cancer-errors"]
    deadline = time.monotonic() + 10
    while len(receiver.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    hooks = {json.loads(r.body)["details"]["rule"]: r for r in receiver.requests}
    for hook in hooks.values():
        assert verify_signature(SECRET, hook.headers["X-Conveyor-Signature"], hook.body)
    accuracy = json.loads(hooks["cancer-accuracy"].body)
    assert accuracy["kind"] == "alert.firing"
    assert accuracy["summary"].startswith(
        f"[critical] cancer-accuracy: cancer v2: accuracy {right / 20:.3f} (below 0.9) on 20 "
        "labelled rows over the last 1h"
    )
    errors = json.loads(hooks["cancer-errors"].body)
    assert errors["details"]["evidence"]["client_errors"] == 5
    assert errors["details"]["value"] == pytest.approx(5 / 35)

    samples = _scrape(app)
    assert set(samples) >= NAMES
    [performance] = samples["conveyor_model_performance"]
    assert performance.labels == {"model": "cancer", "version": "2", "metric": "accuracy"}
    assert performance.value == pytest.approx(right / 20)
    opened = {
        (s.labels["rule"], s.labels["severity"]): s.value for s in samples["conveyor_alerts_open"]
    }
    assert opened == {("cancer-accuracy", "critical"): 1.0, ("cancer-errors", "warning"): 1.0}


def test_drift_gauges_are_read_at_most_every_refresh_and_age_out(ctx: Context) -> None:
    now = datetime.now(UTC)
    rows = [
        FeatureGauge("churn", 3, "age", 1.2, 1e-9, True, 0.0, now),
        FeatureGauge("churn", 3, "plan", 0.02, 0.8, False, 0.25, now),
        FeatureGauge("churn", 2, "age", 0.01, None, False, None, now - timedelta(hours=2)),
    ]
    ctx.store.alerts.put_features("churn", 3, rows[:2])
    ctx.store.alerts.put_features("churn", 2, rows[2:])
    ticks = [0.0]
    gauges = MonitorGauges(ctx.store, clock=lambda: ticks[0])
    metrics = GatewayMetrics()
    metrics.add_collector(gauges)
    app = create_app(_empty_pool(), metrics=metrics)

    first = _scrape(app)
    assert {(s.labels["feature"], s.value) for s in first["conveyor_drift_score"]} == {
        ("age", 1.2),
        ("plan", 0.02),
    }  # version 2 was last evaluated two hours ago: gone
    assert {s.labels["feature"]: s.value for s in first["conveyor_drift_detected"]} == {
        "age": 1.0,
        "plan": 0.0,
    }
    assert {s.labels["feature"]: s.value for s in first["conveyor_feature_missing_share"]} == {
        "age": 0.0,
        "plan": 0.25,
    }
    assert first["conveyor_drift_p_value"][0].labels == {
        "model": "churn",
        "version": "3",
        "feature": "age",
    }

    ctx.store.alerts.put_features("churn", 3, rows[:1])
    ticks[0] = 10.0
    assert len(_scrape(app)["conveyor_drift_score"]) == 2  # cached: the store was not read
    ticks[0] = 16.0
    assert len(_scrape(app)["conveyor_drift_score"]) == 1
    assert gauges.reads == 2


def _empty_pool() -> Any:
    """An empty pool: /metrics needs no model."""
    from conveyor.serving.pool import ModelPool

    return ModelPool()


def test_serve_runs_the_monitor_loop_unless_told_not_to(
    cli: Any, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    ran: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(app))
    assert ctx.root is not None
    result = cli("serve", "--model", "cancer/2", "--no-log-predictions", cwd=ctx.root)
    assert result.exit_code == 0, result.output
    assert "monitoring 2 alert rule(s) every 60 s (one leader across processes)" in result.output
    quiet = cli("serve", "--model", "cancer/2", "--no-monitor", cwd=ctx.root)
    assert quiet.exit_code == 0, quiet.output
    assert "monitoring" not in quiet.output
    assert len(ran) == 2

    monkeypatch.delenv("HOOK_SECRET")  # a target's secret missing: serve refuses to start
    refused = cli("serve", "--model", "cancer/2", cwd=ctx.root)
    assert refused.exit_code == 1
    assert "secret_env names the environment variable 'HOOK_SECRET'" in refused.stderr
