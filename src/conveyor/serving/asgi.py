"""The gateway as an import string, for uvicorn's worker processes.

``conveyor serve --workers N`` sets ``CONVEYOR_SERVE_MODELS`` (a JSON list of model URIs),
``CONVEYOR_SERVE_TIMEOUT``, ``CONVEYOR_SERVE_MAX_BODY``, ``CONVEYOR_SERVE_LOG`` (the
prediction log's options as JSON; each worker writes its own files) and
``CONVEYOR_SERVE_BATCH`` (the batching policy as JSON), ``CONVEYOR_SERVE_READ_TIMEOUT``
(seconds for a request's head and body) and ``CONVEYOR_SERVE_PROFILES`` (the live profiles'
options as JSON; each worker writes its own rows, merged on read), then asks uvicorn for
``conveyor.serving.asgi:from_environment`` (a factory). ``conveyor.serving.asgi:app`` builds
the same app on first access, for servers that take an app rather than a factory. Metrics go
to ``PROMETHEUS_MULTIPROC_DIR`` (multiprocess mode) when it is set::

    CONVEYOR_SERVE_MODELS='["churn@champion"]' uvicorn conveyor.serving.asgi:app
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette

from conveyor.errors import ConfigError
from conveyor.monitoring.profile_options import ProfileOptions
from conveyor.serving.app import MAX_BODY_BYTES, REQUEST_TIMEOUT_S, create_app
from conveyor.serving.batching import BatchPolicy
from conveyor.serving.limits import READ_TIMEOUT_S
from conveyor.serving.metrics import MULTIPROC_VAR, GatewayMetrics
from conveyor.serving.predlog import LogOptions
from conveyor.serving.server import (
    BATCH_VAR,
    LOG_VAR,
    MAX_BODY_VAR,
    MODELS_VAR,
    PROFILES_VAR,
    READ_TIMEOUT_VAR,
    TIMEOUT_VAR,
    log_to_stderr,
    prepare_to_serve,
)
from conveyor.serving.watcher import build_gateway, build_observers
from conveyor.settings import variable


def from_environment() -> Starlette:
    """Load the models the environment names and return the app serving them."""
    from conveyor.context import Context

    log_to_stderr()
    try:
        models = json.loads(variable(MODELS_VAR) or "[]")
        timeout = float(variable(TIMEOUT_VAR) or REQUEST_TIMEOUT_S)
        max_body = int(variable(MAX_BODY_VAR) or MAX_BODY_BYTES)
        given = json.loads(variable(LOG_VAR) or "{}")
        log_options = LogOptions(**{**given, "mask": tuple(given.get("mask", ()))})
        batching = BatchPolicy(**json.loads(variable(BATCH_VAR) or "{}"))
        read_timeout = float(variable(READ_TIMEOUT_VAR) or READ_TIMEOUT_S)
        profiled = json.loads(variable(PROFILES_VAR) or "{}")
        profiles = ProfileOptions(**{**profiled, "mask": tuple(profiled.get("mask", ()))})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the serving environment variables are malformed: {exc}") from exc
    if not isinstance(models, list) or not all(isinstance(uri, str) for uri in models):
        raise ConfigError(f"{MODELS_VAR} must be a JSON list of model URIs, got {models!r}")
    metrics = GatewayMetrics(multiprocess_dir=variable(MULTIPROC_VAR))
    ctx = Context.resolve()  # a worker's composition root
    pool, router, _watcher = build_gateway(models, ctx)
    observers = build_observers(pool, router, ctx, log_options, metrics, profiles=profiles)
    app = create_app(
        pool,
        router=router,
        max_body_bytes=max_body,
        request_timeout_s=timeout,
        observers=observers.all(),
        metrics=metrics,
        batching=batching,
        on_startup=[prepare_to_serve],
        on_shutdown=[observers.close],  # the worker's last window, also on SIGTERM
        read_timeout_s=read_timeout,
        outcomes=observers.outcomes,
        feedback=observers.labels,
        profiles=observers.profiles,
    )
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        app = from_environment()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
