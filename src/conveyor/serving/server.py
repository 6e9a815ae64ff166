"""Run the gateway under uvicorn: one process, or ``workers`` processes sharing the port.

With one worker the pool loaded here is served directly. With several, uvicorn needs an import
string: the options travel in environment variables (:func:`worker_environment`) and each
worker builds its own app with :func:`conveyor.serving.asgi.from_environment`. Prometheus
metrics are always on; with several workers they go through a fresh temporary
``PROMETHEUS_MULTIPROC_DIR`` made before uvicorn starts the workers and removed afterwards.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConflictError
from conveyor.monitoring.observation import PredictionObserver
from conveyor.monitoring.profile_options import ProfileOptions
from conveyor.serving.app import MAX_BODY_BYTES, REQUEST_TIMEOUT_S, create_app
from conveyor.serving.batching import BatchPolicy
from conveyor.serving.limits import KEEP_ALIVE_S, LIMIT_CONCURRENCY, READ_TIMEOUT_S
from conveyor.serving.metrics import MULTIPROC_VAR, GatewayMetrics
from conveyor.serving.pool import ModelPool
from conveyor.serving.predlog import LogOptions
from conveyor.serving.routing import Router
from conveyor.serving.timeouts import head_deadline_protocol
from conveyor.settings import export

if TYPE_CHECKING:
    from conveyor.monitoring.profiler import ProfileRecorder
    from conveyor.monitoring.recorder import OutcomeRecorder
    from conveyor.serving.feedback import LabelLog

MODELS_VAR = "CONVEYOR_SERVE_MODELS"
TIMEOUT_VAR = "CONVEYOR_SERVE_TIMEOUT"
MAX_BODY_VAR = "CONVEYOR_SERVE_MAX_BODY"
LOG_VAR = "CONVEYOR_SERVE_LOG"
BATCH_VAR = "CONVEYOR_SERVE_BATCH"
READ_TIMEOUT_VAR = "CONVEYOR_SERVE_READ_TIMEOUT"
PROFILES_VAR = "CONVEYOR_SERVE_PROFILES"
SWITCH_INTERVAL_S = 0.001


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
    log: LogOptions = field(default_factory=LogOptions)
    batching: BatchPolicy = field(default_factory=BatchPolicy)
    read_timeout_s: float = READ_TIMEOUT_S
    limit_concurrency: int = LIMIT_CONCURRENCY
    profiles: ProfileOptions = field(default_factory=ProfileOptions)

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
        LOG_VAR: json.dumps(asdict(options.log)),
        BATCH_VAR: json.dumps(asdict(options.batching)),
        READ_TIMEOUT_VAR: str(options.read_timeout_s),
        PROFILES_VAR: json.dumps(asdict(options.profiles)),
    }


def run_server(
    pool: ModelPool,
    options: ServeOptions,
    router: Router | None = None,
    observers: Sequence[PredictionObserver] = (),
    on_shutdown: Sequence[Callable[[], None]] = (),
    metrics: GatewayMetrics | None = None,
    outcomes: OutcomeRecorder | None = None,
    feedback: LabelLog | None = None,
    profiles: ProfileRecorder | None = None,
) -> None:
    """Serve until interrupted, on uvloop and httptools where they are installed.

    ``observers``, ``on_shutdown`` (closing them), ``metrics`` (which they count into) and
    ``outcomes`` (the outcome windows), ``feedback`` (the labels log of ``POST /feedback``)
    and ``profiles`` (the live profiles) serve the one-worker case; with several workers
    each builds its own.
    """
    import uvicorn

    check_port_free(options.host, options.port)
    log_to_stderr()
    common = uvicorn_options(
        options.host,
        options.port,
        access_log=options.access_log,
        read_timeout_s=options.read_timeout_s,
        limit_concurrency=options.limit_concurrency,
    )
    if options.workers == 1:
        app = create_app(
            pool,
            router=router,
            max_body_bytes=options.max_body_bytes,
            request_timeout_s=options.request_timeout_s,
            observers=observers,
            metrics=metrics or GatewayMetrics(),
            batching=options.batching,
            on_startup=[prepare_to_serve],
            on_shutdown=on_shutdown,
            read_timeout_s=options.read_timeout_s,
            outcomes=outcomes,
            feedback=feedback,
            profiles=profiles,
        )
        uvicorn.run(app, **common)
        return
    export(worker_environment(options))
    with multiprocess_metrics():
        uvicorn.run(
            "conveyor.serving.asgi:from_environment",
            factory=True,
            workers=options.workers,
            **common,
        )


def uvicorn_options(
    host: str,
    port: int,
    *,
    access_log: bool = False,
    read_timeout_s: float = READ_TIMEOUT_S,
    limit_concurrency: int = LIMIT_CONCURRENCY,
) -> dict[str, Any]:
    """How the gateway runs uvicorn (``conveyor serve`` and bundles alike): uvloop and
    httptools where installed; a request head must arrive within ``read_timeout_s`` (see
    :mod:`conveyor.serving.timeouts`), an idle keep-alive connection closes after
    ``KEEP_ALIVE_S``, and past ``limit_concurrency`` connections or requests at once the
    next ones get 503 instead of piling up."""
    guarded = head_deadline_protocol(read_timeout_s) if _installed("httptools") else None
    return {
        "host": host,
        "port": port,
        "loop": "uvloop" if _installed("uvloop") else "auto",
        "http": guarded or "auto",
        "access_log": access_log,
        "log_level": "info",
        "timeout_keep_alive": KEEP_ALIVE_S,
        "limit_concurrency": limit_concurrency,
    }


def log_to_stderr() -> None:
    """Show the gateway's own INFO lines (hot swaps, unloads, clients gone) on stderr, in
    uvicorn's format; nothing else configures the ``conveyor`` logger in a server."""
    import logging

    logger = logging.getLogger("conveyor")
    if not any(isinstance(handler, _Stderr) for handler in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test may have swapped it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def check_port_free(host: str, port: int) -> None:
    """A :class:`ConflictError` if ``host:port`` cannot be bound, before uvicorn tries (it
    would log its own message and exit with status 3)."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            raise ConflictError(
                f"cannot listen on {host}:{port}: "
                + ("another process is using that port" if taken else str(exc.strerror or exc)),
                hint=f"stop what is listening there (ss -ltnp 'sport = :{port}' shows it), or "
                "serve on another port with --port"
                if taken
                else "check --host: it must be an address of this machine",
            ) from exc


def prepare_to_serve() -> None:
    """Tune this process for serving, once its models are loaded (at the app's startup).

    - Every object alive now (libraries, loaded models) leaves the cyclic garbage collector's
      sight: otherwise each full collection walks the million-odd objects that pandas,
      scikit-learn and the models bring, stalling every request in flight (measured here at
      2,000+ requests/s: p99 from about 7 ms to about 200 ms). Frozen objects are still freed
      by reference counting; only cyclic garbage made before this call stays.
    - The GIL switch interval drops from 5 ms to 1 ms, so the event loop gets the interpreter
      back sooner from the prediction log's and the shadows' threads (at c=16 with both on,
      p99 ~23 ms -> ~15 ms over three alternating runs, requests/s unchanged).
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


@contextmanager
def multiprocess_metrics() -> Iterator[str]:
    """A fresh ``PROMETHEUS_MULTIPROC_DIR`` for the workers about to start, removed after."""
    directory = tempfile.mkdtemp(prefix="conveyor-metrics-")
    previous = export({MULTIPROC_VAR: directory})
    try:
        yield directory
    finally:
        export(previous)
        shutil.rmtree(directory, ignore_errors=True)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
