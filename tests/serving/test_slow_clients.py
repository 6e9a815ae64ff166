"""Slow and vanishing clients against a live uvicorn server configured as `conveyor serve`
configures it: real sockets that send nothing, trickle a body, or leave mid-body."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from conveyor.serving.app import create_app
from conveyor.serving.server import uvicorn_options

READ_TIMEOUT_S = 1.0
HEAD = (
    b"POST /invocations HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n"
)


def options(limit_concurrency: int = 100) -> dict[str, object]:
    found = uvicorn_options(
        "127.0.0.1", 0, read_timeout_s=READ_TIMEOUT_S, limit_concurrency=limit_concurrency
    )
    # no logging config of uvicorn's own: its records reach pytest's caplog
    return {**found, "log_config": None, "log_level": "info"}


def gateway(served) -> object:
    return create_app(served.pool, read_timeout_s=READ_TIMEOUT_S)


def connect(address: str) -> socket.socket:
    host, port = address.split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started, received = time.monotonic(), b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def answers(address: str, served) -> bool:
    row = served.features.iloc[0].tolist()
    response = httpx.post(f"http://{address}/invocations", json={"instances": [row]}, timeout=5)
    return response.status_code == 200


def test_a_client_that_sends_nothing_is_closed_and_others_are_served(served, live_server) -> None:
    with live_server(
        create_app(served.pool, read_timeout_s=READ_TIMEOUT_S), **options()
    ) as address:
        silent = connect(address)
        assert answers(address, served)  # while the silent one waits
        received, took = read_until_closed(silent)
        silent.close()
    assert received == b""
    assert took < READ_TIMEOUT_S + 2


def test_a_trickling_body_gets_408_and_is_closed(served, live_server) -> None:
    with live_server(
        create_app(served.pool, read_timeout_s=READ_TIMEOUT_S), **options()
    ) as address:
        slow = connect(address)
        slow.sendall(HEAD)
        started = time.monotonic()
        slow.settimeout(0.2)
        received = b""
        while time.monotonic() - started < READ_TIMEOUT_S + 3:
            try:
                chunk = slow.recv(65536)
            except TimeoutError:
                slow.sendall(b" ")  # one byte every 0.2 s: never 1000 in time
                continue
            if not chunk:
                break
            received += chunk
        took = time.monotonic() - started
        slow.close()
        assert answers(address, served)
    assert received.startswith(b"HTTP/1.1 408"), (received[:200], took)
    assert b"did not arrive within 1 s" in received
    assert took < READ_TIMEOUT_S + 2


def test_a_client_leaving_mid_body_is_one_log_line(
    served, live_server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with live_server(
        create_app(served.pool, read_timeout_s=READ_TIMEOUT_S), **options()
    ) as address:
        for _ in range(3):
            leaving = connect(address)
            leaving.sendall(HEAD + b'{"instances": [[1.0')
            time.sleep(0.1)
            leaving.close()
        time.sleep(0.5)
        assert answers(address, served)
    gone = [r for r in caplog.records if "went away before sending the whole body" in r.message]
    assert len(gone) == 3
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.message]


def test_past_the_concurrency_limit_new_requests_get_503(served, live_server) -> None:
    with live_server(
        create_app(served.pool, read_timeout_s=READ_TIMEOUT_S), **options(limit_concurrency=2)
    ) as address:
        idle = [connect(address), connect(address)]
        time.sleep(0.2)
        response = httpx.get(f"http://{address}/v2/health/live", timeout=5)
        for sock in idle:
            sock.close()
    assert response.status_code == 503
