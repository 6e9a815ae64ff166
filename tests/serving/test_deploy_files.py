"""The shipped ops files in deploy/: Grafana dashboards and Prometheus rules and config ask only
for metrics the gateway exports, and are well-formed (promtool checks them where installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conveyor.context import Context
from conveyor.monitoring.alerts.gauges import MonitorGauges
from conveyor.serving.metrics import GatewayMetrics

DEPLOY = Path(__file__).parents[2] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
RULES = DEPLOY / "prometheus" / "alerts.yml"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
# The monitor loop's gauges, read from the store at scrape time (monitoring.alerts.gauges).
MONITOR_GAUGES = {
    "conveyor_drift_score",
    "conveyor_drift_p_value",
    "conveyor_drift_detected",
    "conveyor_feature_missing_share",
    "conveyor_model_performance",
    "conveyor_alerts_open",
}
PROMETHEUS_OWN = {"up"}  # written by Prometheus for every scrape target
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")


@pytest.fixture
def exposition(make_project) -> Iterator[dict[str, set[str]]]:
    """Every sample name a gateway's /metrics can show, from a live exposition (the monitor
    loop's gauges over a project's store included, as ``conveyor serve`` adds them), with the
    labels of the samples it shows now (the worker gauges have some)."""
    ctx = Context.resolve(start=make_project({"conveyor.yaml": "stages: {}\n"}))
    try:
        metrics = GatewayMetrics()
        metrics.add_collector(MonitorGauges(ctx.store))
        text = metrics.render().decode()
    finally:
        ctx.close()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES[family.type]:
            labels[family.name + suffix] = set()
        for sample in family.samples:
            labels[sample.name] |= set(sample.labels)
    return labels


@pytest.fixture
def exported(exposition) -> set[str]:
    return set(exposition)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: every ``conveyor_*`` name and every
    name followed by a label matcher (``up{...}``)."""
    return set(re.findall(r"\bconveyor_[a-z_]+\b", expr)) | set(
        re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr)
    )


def check_expr(expr: str, exported: set[str], where: str) -> None:
    used = metric_names(expr)
    assert used, f"{where}: {expr!r} names no metric"
    assert used <= exported | PROMETHEUS_OWN, f"{where}: not exported: {used - exported}"
    without_strings = re.sub(r'"(\\.|[^"\\])*"', '""', expr)
    for opening, closing in ("()", "{}", "[]"):
        depth = 0
        for char in without_strings:
            depth += (char == opening) - (char == closing)
            assert depth >= 0, f"{where}: unbalanced {opening}{closing} in {expr!r}"
        assert depth == 0, f"{where}: unbalanced {opening}{closing} in {expr!r}"


def test_the_exposition_has_the_worker_and_load_memory_gauges(exported) -> None:
    assert {
        "conveyor_worker_cpu_seconds_total",
        "conveyor_worker_resident_memory_bytes",
        "conveyor_worker_open_fds",
        "conveyor_model_load_memory_bytes",
        "conveyor_requests_total",
        "conveyor_request_duration_seconds_bucket",
        *MONITOR_GAUGES,
    } <= exported
    assert "conveyor_requests" not in exported  # counters are exported with _total only


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboards_query_only_exported_metrics(path: Path, exported) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["__inputs"][0]["name"] == "DS_PROMETHEUS"
    assert dashboard["uid"] == path.stem
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels), "panel ids repeat"
    exprs = []
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        assert min(box["w"], box["h"]) > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            check_expr(target["expr"], exported, f"{path.name}: {panel['title']}")
            exprs.append(target["expr"])
    assert not _overlapping(panels), _overlapping(panels)
    assert len(exprs) >= 7


def test_the_monitoring_dashboard_covers_drift_performance_alerts_and_workers() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "conveyor-monitoring.json").read_text("utf-8"))
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
        for name in metric_names(target["expr"])
    }
    assert used >= MONITOR_GAUGES
    assert {
        "conveyor_requests_total",
        "conveyor_request_duration_seconds_bucket",
        "conveyor_worker_cpu_seconds_total",
        "conveyor_worker_resident_memory_bytes",
        "conveyor_model_load_memory_bytes",
    } <= used


def test_alert_rules_are_well_formed_and_use_exported_metrics(exposition, exported) -> None:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    groups = document["groups"]
    assert len({group["name"] for group in groups}) == len(groups)
    alerts = []
    for group in groups:
        assert set(group) <= {"name", "interval", "rules"}, group["name"]
        for rule in group["rules"]:
            name = rule.get("alert")
            assert isinstance(name, str), rule
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), name
            assert set(rule) <= RULE_KEYS, (name, set(rule) - RULE_KEYS)
            assert isinstance(rule["expr"], str), name
            check_expr(rule["expr"], exported, name)
            assert DURATION.fullmatch(str(rule.get("for", "0s"))), (name, rule.get("for"))
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
            assert {"summary", "description"} <= set(rule["annotations"]), name
            used = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
            assert used <= _output_labels(rule["expr"], exposition), (name, used)
            alerts.append(name)
    assert len(set(alerts)) == len(alerts), "alert names repeat"
    assert {
        "ConveyorHighErrorRate",
        "ConveyorHighLatencyP99",
        "ConveyorNoTraffic",
        "ConveyorWorkerMemoryHigh",
        "ConveyorDriftDetected",
        "ConveyorPerformanceBelowThreshold",
        "ConveyorAlertOpenCritical",
    } <= set(alerts)


def test_the_scrape_config_loads_the_rules_and_names_the_job_they_watch() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert [CONFIG.parent / name for name in config["rule_files"]] == [RULES]
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert f'job="{job["job_name"]}"' in RULES.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_config_and_the_rules_pass_their_unit_tests() -> None:
    for args in (
        ["check", "config", CONFIG.name],
        ["check", "rules", RULES.name],
        ["test", "rules", "alerts_test.yml"],
    ):
        done = subprocess.run(
            ["promtool", *args],
            cwd=CONFIG.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def _output_labels(expr: str, exposition: dict[str, set[str]]) -> set[str]:
    """The labels an alert's series can carry: those its outermost ``by (...)`` keeps, or, for
    an expression without one, the scrape's and those of the metrics it selects."""
    grouped = re.findall(r"\bby \(([^)]*)\)", expr)
    if grouped:
        return {label.strip() for label in grouped[0].split(",")}
    selected = set().union(*(exposition.get(name, set()) for name in metric_names(expr)))
    return {"job", "instance"} | selected


def _overlapping(panels: list[dict[str, Any]]) -> list[tuple[str, str]]:
    boxes = [(panel["title"], panel["gridPos"]) for panel in panels]
    found = []
    for i, (one, a) in enumerate(boxes):
        for other, b in boxes[i + 1 :]:
            if (
                a["x"] < b["x"] + b["w"]
                and b["x"] < a["x"] + a["w"]
                and a["y"] < b["y"] + b["h"]
                and b["y"] < a["y"] + a["h"]
            ):
                found.append((one, other))
    return found
