"""A real `conveyor serve` counts every request it routed to a version into outcome windows
in the store, and writes them all when stopped by SIGTERM."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.serving.conftest import copy_project
from tests.serving.gateway_process import serving

from conveyor.context import Context
from conveyor.monitoring.outcomes import merge, outcomes, quantile
from conveyor.settings import Settings

pytestmark = pytest.mark.slow


def test_good_and_bad_requests_are_in_the_store_after_sigterm(served, tmp_path) -> None:
    root = tmp_path / "project"  # a copy: no other test's gateway writes windows here
    copy_project(served.root, root)
    good, bad, unrouted = 25, 7, 3
    with serving(root, "--model", "cancer/2", "--no-log-predictions") as (url, proc):
        began = datetime.now(UTC)
        # other tests may leave a routing table for cancer in the project: force version 2
        with httpx.Client(base_url=url, headers={"X-Conveyor-Version": "2"}) as http:
            for i in range(good):
                row = served.features.iloc[i].tolist()
                answer = http.post("/v1/models/cancer:predict", json={"instances": [row]})
                assert answer.status_code == 200, answer.text
            for _ in range(bad):  # one feature where the signature has 30: refused, 422
                answer = http.post("/v1/models/cancer:predict", json={"instances": [[1.0]]})
                assert answer.status_code == 422
            for _ in range(unrouted):  # no version was chosen for these: not counted
                answer = http.post(
                    "/v1/models/cancer:predict",
                    content=b"{not json",
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status_code == 400
                assert http.get("/v2/health/ready").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0 or proc.returncode == -signal.SIGTERM

    ctx = Context(Settings(), root, base=root)
    try:
        since = began - timedelta(seconds=20)
        windows = outcomes(ctx, "cancer", since, datetime.now(UTC) + timedelta(seconds=20))
    finally:
        ctx.close()
    assert {w.version for w in windows} == {2}
    total = merge(windows)
    assert total.requests == good + bad
    assert (total.client_errors, total.model_errors, total.timeouts) == (bad, 0, 0)
    expected = served.models[2].predict(served.features.head(good))  # type: ignore[attr-defined]
    assert total.labels == {
        str(label): int((expected == label).sum()) for label in set(expected.tolist())
    }
    assert sum(total.latency) == good + bad
    p50 = quantile(total, 0.5)
    assert p50 is not None
    assert 0 < p50 < 1.0
