"""Recording each request's outcome into the outcome windows (:mod:`conveyor.monitoring`).

A pure ASGI middleware times every request and reads its status; the version it counts
under is the one the gateway chose for the request (``Gateway._choose`` leaves it in the
request's state as ``answering``), so a 422 or a 504 counts against the version that
refused or failed it, not only the answers that carry ``X-Conveyor-Model-Version``.
Requests for which no version was chosen (health checks, metadata, malformed JSON, an
unknown model) are not counted. The predictions themselves reach the recorder as a
prediction observer (``create_app(..., outcomes=recorder)`` adds both).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from conveyor.monitoring.recorder import OutcomeRecorder

ANSWERING = "answering"
"""The key of the request's state holding ``(model, version)`` once a version is chosen."""


class OutcomeMiddleware:
    """Pure ASGI middleware: tells ``recorder`` each routed request's status and duration."""

    def __init__(self, app: ASGIApp, *, recorder: OutcomeRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception that escapes every handler becomes uvicorn's 500

        async def send_watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_watched)
        finally:
            answering = scope.get("state", {}).get(ANSWERING)
            if answering is not None:
                model, version = answering
                self.recorder.record(model, version, status, time.perf_counter() - started)
