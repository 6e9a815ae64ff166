"""Run the gateway under uvicorn: one process, or ``workers`` processes sharing the port.

With one worker the pool loaded here is served directly. With several, uvicorn needs an import
string: the options travel in environment variables (:func:`worker_environment`) and each
worker builds its own app with :func:`conveyor.serving.asgi.from_environment`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass

from conveyor.serving.app import MAX_BODY_BYTES, REQUEST_TIMEOUT_S, create_app
from conveyor.serving.pool import ModelPool
from conveyor.serving.routing import Router

MODELS_VAR = "CONVEYOR_SERVE_MODELS"
TIMEOUT_VAR = "CONVEYOR_SERVE_TIMEOUT"
MAX_BODY_VAR = "CONVEYOR_SERVE_MAX_BODY"


@dataclass(frozen=True)
class ServeOptions:
    """How ``conveyor serve`` runs: the models, the address, the workers and the limits."""

    models: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    access_log: bool = False
    request_timeout_s: float = REQUEST_TIMEOUT_S
    max_body_bytes: int = MAX_BODY_BYTES

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def worker_environment(options: ServeOptions) -> dict[str, str]:
    """The variables a worker process reads to rebuild the app."""
    return {
        MODELS_VAR: json.dumps(list(options.models)),
        TIMEOUT_VAR: str(options.request_timeout_s),
        MAX_BODY_VAR: str(options.max_body_bytes),
    }


def run_server(pool: ModelPool, options: ServeOptions, router: Router | None = None) -> None:
    """Serve until interrupted, on uvloop and httptools where they are installed."""
    import uvicorn

    common = {
        "host": options.host,
        "port": options.port,
        "loop": "uvloop" if _installed("uvloop") else "auto",
        "http": "httptools" if _installed("httptools") else "auto",
        "access_log": options.access_log,
        "log_level": "info",
    }
    if options.workers == 1:
        app = create_app(
            pool,
            router=router,
            max_body_bytes=options.max_body_bytes,
            request_timeout_s=options.request_timeout_s,
        )
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    os.environ.update(worker_environment(options))
    uvicorn.run(
        "conveyor.serving.asgi:from_environment",
        factory=True,
        workers=options.workers,
        **common,  # type: ignore[arg-type]
    )


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
