"""The ``monitor:`` block of conveyor.yaml: rules validated per kind, errors that name the
file, line and field, and ``notify:`` names checked against the targets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conveyor.config import load_config
from conveyor.errors import ConfigError

HEAD = """\
stages:
  noop: {cmd: "true"}
notify:
  - webhook: {name: ops-webhook, url: "http://127.0.0.1:9/hook", allow_private: true}
  - slack: {name: chat, url_env: SLACK_URL, events: ["rollout.*"]}
"""


def load(tmp_path: Path, monitor: str) -> object:
    path = tmp_path / "conveyor.yaml"
    path.write_text(HEAD + textwrap.dedent(monitor), encoding="utf-8")
    return load_config(path)


def error(tmp_path: Path, monitor: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, monitor)
    return str(info.value)


def test_every_kind_of_rule_loads_with_its_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        monitor:
          interval: 30s
          alerts:
            - {name: churn-drift, model: churn, when: drift, for: 5m, notify: [ops-webhook]}
            - {name: churn-acc, model: churn@champion, when: performance, below: 0.85}
            - {name: churn-drop, model: churn/3, when: performance, metric: roc_auc, drop: 0.03}
            - {name: churn-errors, model: churn, when: error_rate, above: 0.02, severity: critical}
            - {name: churn-slow, model: churn, when: latency, p99_above: 250ms}
            - {name: churn-idle, model: churn, when: no_traffic}
        """,
    )
    monitor = config.monitor  # type: ignore[attr-defined]
    drift, accuracy, drop, errors, slow, idle = monitor.alerts
    assert monitor.interval_s == 30
    assert monitor.repeat_s(drift) == 4 * 3600  # the default repeat_interval
    assert (drift.for_s, drift.window_s, drift.min_features, drift.notify) == (
        300,
        3600,
        1,
        ("ops-webhook",),
    )
    assert (accuracy.metric, accuracy.window_s, accuracy.min_labels) == ("accuracy", 86400, 30)
    assert drop.threshold() == {"metric": "roc_auc", "drop": 0.03}
    assert (errors.severity, errors.window_s, errors.min_requests) == ("critical", 300, 20)
    assert slow.latency == (0.99, 0.25)
    assert (idle.window_s, idle.for_s, idle.notify) == (900, 0, None)
    assert monitor.max_features == 50
    assert monitor.max_notifications_per_hour == 20


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        (
            "monitor:\n  alerts:\n    - {name: a, model: churn, when: drift, below: 0.8}\n",
            "conveyor.yaml:8:7: monitor.alerts[0]: 'below' is for when: performance "
            "(the keys of when: drift are: features, min_features, correction, alpha)",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: churn, when: flood}\n",
            "conveyor.yaml:8:31: monitor.alerts[0].when: Input should be 'drift', 'performance', "
            "'error_rate', 'latency' or 'no_traffic'",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: churn, when: error_rate}\n",
            "an error_rate rule needs 'above'",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: c, when: performance, metric: mae,"
            " below: 1}\n",
            "mae is lower when better: use 'above' (or 'drop')",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: churn, when: latency}\n",
            "give exactly one of p50_above, p95_above and p99_above",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: churn, when: latency, p99_above: fast}\n",
            "monitor.alerts[0].p99_above: 'fast' is not a duration",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: 'churn@@x', when: no_traffic}\n",
            "monitor.alerts[0].model: 'churn@@x' is not a model",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: c, when: no_traffic, severity: page}\n",
            "monitor.alerts[0].severity: Input should be 'info', 'warning' or 'critical'",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: c, when: no_traffic}\n"
            "    - {name: a, model: d, when: no_traffic}\n",
            "monitor.alerts: rule names must be unique; a is used twice",
        ),
        (
            "monitor:\n  alerts:\n    - {name: a, model: c, when: no_traffic, fro: 5m}\n",
            "monitor.alerts[0].fro: unknown key (did you mean 'for'?)",
        ),
        (
            "monitor:\n  interval: often\n",
            "conveyor.yaml:7:3: monitor.interval: 'often' is not a duration",
        ),
    ],
)
def test_a_bad_rule_names_the_file_line_and_field(
    tmp_path: Path, monitor: str, expected: str
) -> None:
    assert expected in error(tmp_path, monitor)


def test_notify_names_a_target_that_receives_alerts(tmp_path: Path) -> None:
    unknown = error(
        tmp_path,
        "monitor:\n  alerts:\n    - name: a\n      model: c\n      when: no_traffic\n"
        "      notify: [ops-webhook, pager]\n",
    )
    assert "conveyor.yaml:11:29: monitor.alerts[0].notify[1]: no notify: target is named" in unknown
    assert "'pager' (named targets: chat, ops-webhook)" in unknown

    deaf = error(
        tmp_path,
        "monitor:\n  alerts:\n    - {name: a, model: c, when: no_traffic, notify: [chat]}\n",
    )
    assert "target 'chat' does not receive alert events (its events: rollout.*)" in deaf
