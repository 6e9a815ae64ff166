"""`conveyor serve`: models resolved and loaded, uvicorn started with the right options."""

from __future__ import annotations

import json
from typing import Any

import pytest
import uvicorn

from conveyor.serving import asgi
from conveyor.serving.server import (
    BATCH_VAR,
    LOG_VAR,
    MAX_BODY_VAR,
    MODELS_VAR,
    PROFILES_VAR,
    READ_TIMEOUT_VAR,
    TIMEOUT_VAR,
)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """Calls to uvicorn.run, recorded instead of serving forever."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    return calls


def test_serve_loads_the_models_and_runs_uvicorn_on_loopback(cli, served, started) -> None:
    result = cli("serve", "--model", "cancer@champion", "-m", "models:/cancer/2", cwd=served.root)
    assert result.exit_code == 0, result.output
    assert "serving cancer/1 (sklearn" in result.output
    assert "serving cancer/2 (sklearn" in result.output
    assert "listening on http://127.0.0.1:8080" in result.output
    [(app, options)] = started
    assert options["host"] == "127.0.0.1"
    assert options["loop"] == "uvloop"
    assert options["http"].func.__name__ == "HeadDeadline"  # httptools, with a head deadline
    assert (options["timeout_keep_alive"], options["limit_concurrency"]) == (5.0, 1000)
    assert options["access_log"] is False
    assert "/invocations" in {route.path for route in app.routes}


def test_serve_with_workers_hands_uvicorn_an_import_string(
    cli, served, started, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        MODELS_VAR, TIMEOUT_VAR, MAX_BODY_VAR, LOG_VAR, BATCH_VAR, READ_TIMEOUT_VAR, PROFILES_VAR,
    ):  # fmt: skip
        monkeypatch.setenv(name, "")
    result = cli(
        "serve", "-m", "cancer/2", "--workers", "2", "--access-log",
        "--max-batch-size", "8", "--max-batch-wait-ms", "0.5", "--profile-window", "30",
        "--profile-max-features", "5", "--log-mask", "mean radius", cwd=served.root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "batching up to 8 rows per model call, waiting at most 0.5 ms" in result.output
    [(target, options)] = started
    assert target == "conveyor.serving.asgi:from_environment"
    assert (options["workers"], options["factory"], options["access_log"]) == (2, True, True)
    import os

    assert json.loads(os.environ[MODELS_VAR]) == ["cancer/2"]
    assert json.loads(os.environ[BATCH_VAR]) == {"max_batch_size": 8, "max_wait_s": 0.0005}
    assert json.loads(os.environ[PROFILES_VAR]) == {
        "enabled": True, "window_s": 30, "max_features": 5, "mask": ["mean radius"],
    }  # fmt: skip
    assert "profiling inputs and predictions per 30 s window (at most 5 features" in result.output
    monkeypatch.setenv("CONVEYOR_PROJECT_ROOT", str(served.root))
    app = asgi.from_environment()
    assert "/invocations" in {route.path for route in app.routes}


def test_serve_unknown_model_is_a_clear_error(cli, served, started) -> None:
    result = cli("serve", "--model", "nope@champion", cwd=served.root)
    assert result.exit_code == 1
    assert "no registered model named 'nope'" in result.output
    assert not started


def test_serve_refuses_a_run_uri(cli, served, started) -> None:
    result = cli("serve", "--model", "runs:/latest/model", cwd=served.root)
    assert result.exit_code == 1
    assert "only those can be served" in result.output
