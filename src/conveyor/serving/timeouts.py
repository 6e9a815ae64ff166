"""Limits on slow clients, so that none holds a connection forever.

uvicorn closes a keep-alive connection idle for ``timeout_keep_alive`` seconds, but sets no
limit on a new connection that sends nothing or sends its head slowly, nor on a body that
trickles in. Two guards close those gaps::

    head   connect ... headers complete     HeadDeadline (an httptools protocol): closed
    body   headers ... last body byte       BodyDeadline (ASGI middleware): 408, closed

Both count from the start of their phase, not from the last byte, so a client sending one
byte a second gets no more time than one sending nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

from conveyor.serving.errors import RequestError
from conveyor.serving.limits import READ_TIMEOUT_S

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("conveyor.serving")


class BodyTimeout(RequestError):
    """The request body did not arrive in time (HTTP 408; the connection is closed)."""


class BodyDeadline:
    """Pure ASGI middleware: the whole body must arrive within ``timeout_s`` of the head.

    A ``receive`` past the deadline raises :class:`BodyTimeout`, which the gateway's error
    table answers with 408 and ``Connection: close``.
    """

    def __init__(self, app: ASGIApp, timeout_s: float = READ_TIMEOUT_S) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # afterwards only a disconnect can come: no limit on waiting for it
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(
                    408,
                    f"the request body did not arrive within {self.timeout_s:g} s",
                    field="body",
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, timed_receive, send)


@functools.cache  # one protocol per timeout: the same options compare equal
def head_deadline_protocol(timeout_s: float) -> Any:
    """uvicorn's httptools protocol, closing a connection whose request head has not
    arrived ``timeout_s`` after it opened (or after its previous response); None without
    httptools (uvicorn's own limits alone apply then). A ``partial`` of a module-level
    class, so that uvicorn can pickle it for ``--workers``."""
    try:
        from conveyor.serving.headguard import HeadDeadline
    except ImportError:
        return None
    return functools.partial(HeadDeadline, head_timeout_s=timeout_s)
