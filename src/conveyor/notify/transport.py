"""One HTTP POST to a checked endpoint: connect to a checked address, follow no redirect.

The standard library's ``http.client`` rather than a client library, because the request
must go to the address that :func:`~conveyor.notify.targets.resolve_allowed` just checked:
the connection is opened to that IP while the Host header and TLS certificate check (SNI)
use the name. ``http.client`` never follows redirects, and environment proxies are not
used (a proxy would resolve the name again). Every failure becomes :class:`DeliveryFailed`
here, in this one place.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from email.utils import parsedate_to_datetime

from conveyor.errors import ConfigError, DeliveryFailed
from conveyor.ids import utcnow
from conveyor.notify.targets import Endpoint, IPAddress, resolve_allowed

__all__ = ["post"]

RESPONSE_LIMIT = 64 * 1024  # read (and drop) at most this much of a response body
_TLS = ssl.create_default_context()


def post(
    endpoint: Endpoint,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float,
    allow_private: bool,
) -> int:
    """POST ``body``; the 2xx status, or :class:`DeliveryFailed` (retryable or not)."""
    try:
        addresses = resolve_allowed(endpoint, allow_private=allow_private)
    except ConfigError as exc:  # the name resolves somewhere refused now: rebinding
        raise DeliveryFailed(exc.message, retryable=False) from exc
    except OSError as exc:
        raise DeliveryFailed(f"{endpoint.where}: cannot resolve: {exc}", retryable=True) from exc
    try:
        connection = _connect(endpoint, addresses, timeout_s)
        status, retry_after = _exchange(connection, endpoint, body, headers)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, TLS
        what = type(exc).__name__
        raise DeliveryFailed(f"{endpoint.where}: {what}: {exc}", retryable=True) from exc
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:
        message = f"{endpoint.where}: answered {status} (a redirect, not followed)"
        raise DeliveryFailed(message, retryable=False)
    retryable = status == 429 or status >= 500
    message = f"{endpoint.where}: answered {status}"
    raise DeliveryFailed(message, retryable=retryable, retry_after=retry_after)


def _connect(
    endpoint: Endpoint, addresses: list[IPAddress], timeout_s: float
) -> http.client.HTTPConnection:
    """A connection to the first address that accepts one (an IPv6 one may not route)."""
    for address in addresses[:-1]:
        connection = _connection(endpoint, str(address), timeout_s)
        try:
            connection.connect()
            return connection
        except OSError:
            connection.close()
    connection = _connection(endpoint, str(addresses[-1]), timeout_s)
    connection.connect()  # the last one's error is the one reported
    return connection


def _exchange(
    connection: http.client.HTTPConnection, endpoint: Endpoint, body: bytes, headers: dict[str, str]
) -> tuple[int, float | None]:
    try:
        connection.request("POST", endpoint.target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(RESPONSE_LIMIT)
        return response.status, parse_retry_after(response.getheader("Retry-After"))
    finally:
        connection.close()


def _connection(endpoint: Endpoint, address: str, timeout_s: float) -> http.client.HTTPConnection:
    if endpoint.scheme == "https":
        return _PinnedHTTPS(endpoint.host, endpoint.port, address, timeout_s)
    return _PinnedHTTP(endpoint.host, endpoint.port, address, timeout_s)


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to ``address``, whatever ``host`` resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to ``address``, the certificate checked against ``host``."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_TLS)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = _TLS.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())
