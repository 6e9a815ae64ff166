"""The gateway's ASGI app: plain Starlette routes over a :class:`ModelPool`.

Each handler reads the body (size-limited), parses it with :mod:`conveyor.serving.protocols`,
picks the version, predicts through that version's :class:`~conveyor.serving.batching.Batcher`
(concurrent requests share a model call in a worker thread) under a timeout and answers with
orjson.
Our errors become HTTP statuses in one table, :func:`_error_response`::

    app = create_app(pool, request_timeout_s=5.0)
    uvicorn.run(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.errors import ModelError, NotFoundError
from conveyor.monitoring.observation import Prediction, PredictionObserver
from conveyor.serving import binary, protocols
from conveyor.serving.batching import (
    Batcher,
    BatchListener,
    BatchPolicy,
    BatchRecord,
    ModelCallTimeout,
)
from conveyor.serving.errors import RequestError
from conveyor.serving.limits import READ_TIMEOUT_S
from conveyor.serving.openapi import openapi_document
from conveyor.serving.outcomes import ANSWERING, OutcomeMiddleware
from conveyor.serving.timeouts import BodyDeadline

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from conveyor.flavors.base import Array, ModelInput
    from conveyor.monitoring.profiler import ProfileRecorder
    from conveyor.monitoring.recorder import OutcomeRecorder
    from conveyor.serving.feedback import LabelLog
    from conveyor.serving.metrics import GatewayMetrics
    from conveyor.serving.pool import ModelPool, Served

log = logging.getLogger("conveyor.serving")
MAX_BODY_BYTES = 10 * 1024 * 1024
REQUEST_TIMEOUT_S = 30.0
VERSION_HEADER = "x-conveyor-version"
MODEL_HEADER = "x-conveyor-model"
ANSWERED_BY = "X-Conveyor-Model-Version"


class VersionChooser(Protocol):
    """Picks the version of ``model`` that answers a request (a routing table does this)."""

    def choose(self, model: str, headers: Mapping[str, str], body: Any) -> int:
        """The version number to serve this request."""
        ...


class PredictionTimeout(RequestError):
    """A prediction ran longer than the gateway's ``request_timeout_s`` (HTTP 504)."""


def create_app(
    pool: ModelPool,
    *,
    router: VersionChooser | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    observers: Sequence[PredictionObserver] = (),
    metrics: GatewayMetrics | None = None,
    batching: BatchPolicy | None = None,
    on_startup: Sequence[Callable[[], None]] = (),
    on_shutdown: Sequence[Callable[[], None]] = (),
    read_timeout_s: float = READ_TIMEOUT_S,
    outcomes: OutcomeRecorder | None = None,
    feedback: LabelLog | None = None,
    profiles: ProfileRecorder | None = None,
) -> Starlette:
    """The ASGI app serving every model in ``pool`` over the v2, v1 and MLflow protocols.

    ``router`` picks versions (default: the latest loaded one); the header
    ``X-Conveyor-Version: N`` overrides it. Bodies over ``max_body_bytes`` get 413 and
    predictions slower than ``request_timeout_s`` get 504. ``metrics`` adds Prometheus
    ``GET /metrics`` (see :mod:`conveyor.serving.metrics`). ``batching`` sets how concurrent
    requests to one version are merged into one model call (default :class:`BatchPolicy`;
    ``BatchPolicy(max_batch_size=1)`` turns it off; see :mod:`conveyor.serving.batching`).
    ``on_startup`` runs when the server starts (not in tests that call the app directly);
    ``on_shutdown`` runs (in a worker thread) when the server shuts down gracefully, SIGTERM
    included: uvicorn re-raises SIGTERM after shutting down, so code after ``uvicorn.run``
    never runs then, and the prediction log must be written here. A body that has not
    arrived ``read_timeout_s`` after the request head gets 408 (see
    :mod:`conveyor.serving.timeouts`); a client that goes away mid-body is one log line.
    ``outcomes`` counts every request routed to a version, and its predictions, into
    outcome windows (see :mod:`conveyor.serving.outcomes`). ``feedback`` takes delayed
    labels on ``POST /feedback`` (see :mod:`conveyor.serving.feedback`); close it on
    shutdown like the observers. ``profiles`` is told of every model call (what it
    answered), for the live profiles (see :mod:`conveyor.monitoring.profiler`).

    >>> app = create_app(pool, metrics=GatewayMetrics())  # doctest: +SKIP
    """
    if metrics is not None:
        observers = (*observers, metrics)
        on_startup, on_shutdown = (*on_startup, metrics.start), (*on_shutdown, metrics.stop)
    if outcomes is not None:
        observers = (*observers, outcomes)
    document = openapi_document(metrics=metrics is not None, feedback=feedback is not None)
    gateway = Gateway(
        pool,
        router,
        max_body_bytes,
        request_timeout_s,
        observers,
        document,
        batching=batching or BatchPolicy(),
        batch_listener=_listeners(
            metrics.observe_batch if metrics is not None else None,
            profiles.observe_call if profiles is not None else None,
        ),
    )
    routes = gateway.routes()
    if feedback is not None:
        routes.append(Route("/feedback", gateway.feedback_route(feedback), methods=["POST"]))
    middleware = [Middleware(RequestIds), Middleware(BodyDeadline, timeout_s=read_timeout_s)]
    if metrics is not None:
        from conveyor.serving.metrics import MetricsMiddleware

        routes.append(metrics.route(pool))
        middleware.insert(
            0, Middleware(MetricsMiddleware, metrics=metrics, pool=pool, routes=routes)
        )
    if outcomes is not None:
        middleware.insert(0, Middleware(OutcomeMiddleware, recorder=outcomes))
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=_lifespan(on_startup, on_shutdown),
        exception_handlers={
            RequestError: _error_response,
            ModelError: _error_response,
            HTTPException: _error_response,
            ClientDisconnect: _client_gone,
        },
    )


def _listeners(*given: BatchListener | None) -> BatchListener | None:
    """One listener telling each of ``given`` (None: nobody listens)."""
    chosen = [listener for listener in given if listener is not None]
    if len(chosen) <= 1:
        return chosen[0] if chosen else None

    def tell(record: BatchRecord) -> None:
        for listener in chosen:
            listener(record)

    return tell


def _lifespan(
    on_startup: Sequence[Callable[[], None]], on_shutdown: Sequence[Callable[[], None]]
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for start in on_startup:
            start()
        yield
        import anyio.to_thread

        for close in on_shutdown:
            await anyio.to_thread.run_sync(close)

    return lifespan


class Gateway:
    """The route handlers, sharing the pool, the router and the limits."""

    def __init__(
        self,
        pool: ModelPool,
        router: VersionChooser | None,
        max_body_bytes: int,
        request_timeout_s: float,
        observers: Sequence[PredictionObserver] = (),
        openapi: Mapping[str, Any] | None = None,
        *,
        batching: BatchPolicy | None = None,
        batch_listener: BatchListener | None = None,
    ) -> None:
        self.pool = pool
        self.batching = batching or BatchPolicy()
        self.batch_listener = batch_listener
        self._batchers: dict[tuple[str, int], Batcher] = {}
        self._generation = pool.generation  # the pool's, when _batchers was last pruned
        self.router = router
        self.observers = tuple(observers)
        self.max_body_bytes = max_body_bytes
        self.request_timeout_s = request_timeout_s
        self._openapi = orjson.dumps(openapi_document() if openapi is None else openapi)

    def routes(self) -> list[Route]:
        """Every route the gateway answers."""
        return [  # predictions first: routes are matched in order, twice with metrics on
            Route("/v1/models/{model}:predict", self.predict_v1, methods=["POST"]),
            Route("/v2/models/{model}/infer", self.infer, methods=["POST"]),
            Route("/invocations", self.invocations, methods=["POST"]),
            Route("/v2/models/{model}/versions/{version}/infer", self.infer, methods=["POST"]),
            Route("/v2", self.server_metadata),
            Route("/v2/health/live", self.live),
            Route("/v2/health/ready", self.ready),
            Route("/v2/models/{model}", self.model_metadata),
            Route("/v2/models/{model}/ready", self.model_ready),
            Route("/v2/models/{model}/versions/{version}", self.model_metadata),
            Route("/v2/models/{model}/versions/{version}/ready", self.model_ready),
            Route("/openapi.json", self.openapi),
        ]

    async def server_metadata(self, request: Request) -> Response:
        """``GET /v2``: the server's name, version and protocol extensions."""
        from conveyor import __version__

        return _json({"name": "conveyor", "version": __version__, "extensions": []})

    async def live(self, request: Request) -> Response:
        """``GET /v2/health/live``: the process answers."""
        return _json({"live": True})

    async def ready(self, request: Request) -> Response:
        """``GET /v2/health/ready``: 200 once every served model is loaded, else 503."""
        ready = len(self.pool) > 0
        return _json({"ready": ready}, 200 if ready else 503)

    async def model_metadata(self, request: Request) -> Response:
        """``GET /v2/models/{m}[/versions/{v}]``: versions, platform, input/output tensors."""
        name = request.path_params["model"]
        served = self.pool.get(name, _path_version(request))
        return _json(protocols.v2_metadata(served, self.pool.versions(name)))

    async def model_ready(self, request: Request) -> Response:
        """``GET /v2/models/{m}[/versions/{v}]/ready``: 200 if loaded, 404 if unknown."""
        served = self.pool.get(request.path_params["model"], _path_version(request))
        return _json({"name": served.name, "ready": True})

    async def infer(self, request: Request) -> Response:
        """``POST /v2/models/{m}[/versions/{v}]/infer``: Open Inference Protocol v2."""
        name = request.path_params["model"]
        header_length = request.headers.get(binary.HEADER)
        raw = b""
        if header_length is None:
            body = await self._json_body(request)
        else:  # the binary tensor extension: a JSON header, then the tensors' bytes
            head, raw = binary.split_body(await self._body(request), header_length)
            body = protocols.read_json(head, None)
        served = self._choose(name, request, body, _path_version(request))
        parsed = protocols.parse_v2(body, served.layout, raw)
        want_proba = parsed.outputs is None or "predict_proba" in parsed.outputs
        request_id = parsed.id or _request_id(request)
        predicted, proba = await self._predict(served, parsed.data, want_proba, request_id)
        answer, blobs = protocols.v2_response(
            served, request_id, predicted, proba, parsed.outputs, parsed.binary_outputs
        )
        if not blobs:
            return _json(answer, headers=_answered_by(served))
        head = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = {**_answered_by(served), "Inference-Header-Content-Length": str(len(head))}
        return Response(
            head + b"".join(blobs), headers=headers, media_type="application/octet-stream"
        )

    async def predict_v1(self, request: Request) -> Response:
        """``POST /v1/models/{m}:predict``: ``instances`` or ``inputs`` -> ``predictions``."""
        name = request.path_params["model"]
        body = await self._json_body(request)
        served = self._choose(name, request, body, None)
        data = protocols.parse_v1(body, served.layout)
        return await self._predictions(served, data, _request_id(request))

    async def invocations(self, request: Request) -> Response:
        """``POST /invocations`` (MLflow): the only model, or the one ``X-Conveyor-Model`` names;
        a JSON body, or CSV with a header row (``Content-Type: text/csv``)."""
        name = self._invoked_model(request)
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media == "text/csv":
            raw = await self._body(request)
            served = self._choose(name, request, None, None)
            data = protocols.parse_csv(raw, served.layout)
        else:
            body = await self._json_body(request)
            served = self._choose(name, request, body, None)
            data = protocols.parse_invocations(body, served.layout)
        return await self._predictions(served, data, _request_id(request))

    async def openapi(self, request: Request) -> Response:
        """``GET /openapi.json``: the OpenAPI 3.1 description of these routes."""
        return Response(self._openapi, media_type="application/json")

    def feedback_route(self, labels: LabelLog) -> Callable[[Request], Any]:
        """``POST /feedback``: delayed labels for earlier predictions, by request id (202)."""

        async def feedback(request: Request) -> Response:
            from conveyor.serving.feedback import read_body

            raw = await self._body(request)
            taken = labels.receive(read_body(raw, request.headers.get("content-type")))
            return _json({"accepted": taken}, 202)

        return feedback

    async def _predictions(self, served: Served, data: ModelInput, request_id: str) -> Response:
        predicted, _ = await self._predict(served, data, False, request_id)
        return _json(protocols.predictions(predicted), headers=_answered_by(served))

    async def _predict(
        self, served: Served, data: ModelInput, with_proba: bool, request_id: str
    ) -> tuple[Array, Array | None]:
        """Predict through the version's batcher; 504 if it takes longer than the timeout."""
        started = time.perf_counter()
        try:
            answer = await self._batcher(served).predict(data, with_proba, self.request_timeout_s)
        except (TimeoutError, ModelCallTimeout):
            raise PredictionTimeout(
                504,
                f"model {served.name!r} version {served.version} did not answer within "
                f"{self.request_timeout_s:g} s",
            ) from None
        protocols.check_finite(served, *answer)
        if self.observers:
            self._tell(served, data, answer[0], request_id, time.perf_counter() - started)
        return answer

    def _batcher(self, served: Served) -> Batcher:
        """The batcher of this loaded version (a version loaded again gets a new one)."""
        if self._generation != self.pool.generation:  # a version came or went
            self._prune()
        key = (served.name, served.version)
        batcher = self._batchers.get(key)
        if batcher is None or batcher.served is not served:
            batcher = Batcher(served, self.batching, listener=self.batch_listener)
            self._batchers[key] = batcher
        return batcher

    def _prune(self) -> None:
        """Drop the batchers of versions no longer loaded: they hold the model in memory."""
        self._generation = self.pool.generation
        loaded = {id(served) for served in self.pool.all()}
        self._batchers = {k: b for k, b in self._batchers.items() if id(b.served) in loaded}

    def _tell(
        self, served: Served, data: ModelInput, outputs: Array, request_id: str, took: float
    ) -> None:
        prediction = Prediction(
            request_id, served.name, served.version, data, outputs, took, datetime.now(UTC)
        )
        for observer in self.observers:
            observer.observe(prediction)

    async def _json_body(self, request: Request) -> Any:
        """The body as JSON: 413 past the size limit, 415 for other content types."""
        body = await self._body(request)
        return protocols.read_json(body, request.headers.get("content-type"))

    async def _body(self, request: Request) -> bytes:
        """The body's bytes; 413 past the size limit."""
        limit = self.max_body_bytes
        declared = request.headers.get("content-length", "")
        if _is_number(declared) and int(declared) > limit:
            raise _too_large(limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _choose(self, name: str, request: Request, body: Any, version: int | None) -> Served:
        """The version in the path, else the forcing header, else the router, else the latest."""
        self.pool.versions(name)  # 404 for an unknown model before anything else
        if version is None:
            version = _header_version(request)
        if version is None and self.router is not None:
            try:
                version = self.router.choose(name, request.headers, body)
            except NotFoundError:  # a model without a routing table: the latest answers
                version = None
        served = self.pool.get(name, version)
        request.scope.setdefault("state", {})[ANSWERING] = (served.name, served.version)
        return served

    def _invoked_model(self, request: Request) -> str:
        named = request.headers.get(MODEL_HEADER)
        if named:
            return named
        names = self.pool.names()
        if len(names) != 1:
            raise RequestError(
                400,
                f"{len(names)} models are served ({', '.join(names)}); "
                "name one in the X-Conveyor-Model header",
                field="X-Conveyor-Model",
            )
        return names[0]


class RequestIds:
    """Pure ASGI middleware: every response carries ``X-Request-ID``.

    The id is the request's own ``X-Request-ID`` if it sent a sensible one, else a new one;
    handlers find it in ``request.state.request_id``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _given_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


class _RequestIds:
    """32 hex characters: a random prefix per process, then a counter.

    Unique across processes and restarts like ``uuid4().hex``, without its ``os.urandom``
    call per request (8 us here); still uniform under the hash that samples and shadows.
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # a forked worker gets its own prefix

    def reset(self) -> None:
        self.prefix = uuid.uuid4().hex[:16]
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


new_request_id = _RequestIds()


def _given_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            text = value.decode("latin-1")
            ok = 0 < len(text) <= 128 and text.isascii() and text.isprintable()
            return text if ok else None
    return None


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or new_request_id())


def _path_version(request: Request) -> int | None:
    text = request.path_params.get("version")
    if text is None:
        return None
    if not _is_number(text):
        raise RequestError(404, f"version must be a whole number, got {text!r}", field="version")
    return int(text)


def _header_version(request: Request) -> int | None:
    text = request.headers.get(VERSION_HEADER)
    if text is None:
        return None
    if not _is_number(text.strip()):
        raise RequestError(
            400,
            f"X-Conveyor-Version must be a version number, got {text!r}",
            field="X-Conveyor-Version",
        )
    return int(text)


def _is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` is also true of ``'²'``, which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def _answered_by(served: Served) -> dict[str, str]:
    return {ANSWERED_BY: str(served.version), "X-Conveyor-Model": served.name}


def _too_large(limit: int) -> RequestError:
    return RequestError(413, f"the body is larger than the limit of {limit} bytes", field="body")


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


async def _error_response(request: Request, exc: Exception) -> Response:
    """The one table from errors to HTTP statuses: each answer is JSON with the request id."""
    if isinstance(exc, RequestError):
        status, body = exc.status, exc.body()
    elif isinstance(exc, ModelError):  # the full message, with the model's path, stays here
        log.error("request %s: %s", _request_id(request), exc.message)
        status, body = 500, {"error": f"the model failed: {_without_paths(exc)}"}
    elif isinstance(exc, HTTPException):
        status, body = exc.status_code, {"error": exc.detail}
    else:  # pragma: no cover - only the classes registered in create_app arrive here
        raise exc
    headers = {"Connection": "close"} if status == 408 else {}  # the rest may still trickle
    answering = request.scope.get("state", {}).get(ANSWERING)
    if answering is not None:  # say which version failed it, so a canary's errors are seen
        headers["X-Conveyor-Model"], headers[ANSWERED_BY] = answering[0], str(answering[1])
    return _json({**body, "request_id": _request_id(request)}, status, headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """A client that closed its connection before sending its whole body: one log line
    (not a traceback), and an answer nobody will read."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.info(
        "%s went away before sending the whole body of %s %s (request %s)",
        client,
        request.method,
        request.url.path,
        _request_id(request),
    )
    return Response(status_code=400)


_PATH = re.compile(r"(?<![\w/.:])(?:[A-Za-z]:)?[/\\](?:[^\s/\\'\"()]+[/\\])+[^\s/\\'\"(),:]*")


def _without_paths(exc: ModelError) -> str:
    """What a client may read of a model's failure: the library's own words, without any
    file path of this server (the ModelError names the model's directory; the cause's text
    may name files too)."""
    cause = exc.__cause__
    text = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
    return _PATH.sub("<path>", text)
