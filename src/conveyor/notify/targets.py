"""Where a notifier may send: http(s) URLs whose host resolves to allowed addresses only.

A notification URL comes from configuration, and the request is made from inside the
serving host, so a URL is a way to make that host call somewhere (SSRF). The rules, each
with the name an error reports:

- ``scheme``: only ``http`` and ``https``;
- ``metadata``: cloud metadata services (169.254.169.254, fd00:ec2::254, 100.100.100.200,
  ``metadata.google.internal``) — never, whatever the target says;
- ``link-local`` (169.254.0.0/16, fe80::/10), ``multicast``, ``unspecified`` (0.0.0.0, ::)
  and ``reserved`` — never;
- ``private``: loopback, RFC 1918, unique-local and other non-global addresses — only on a
  target with ``allow_private: true`` (a receiver on the same host or network).

Every address a name resolves to must pass: :func:`resolve_allowed` is called when the
notifier is built and again before each request, and the request connects to an address it
returned (never resolving twice), so a name that resolves elsewhere later (DNS rebinding)
cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from conveyor.errors import ConfigError

__all__ = ["Endpoint", "IPAddress", "forbidden_rule", "parse_endpoint", "resolve_allowed"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
HINT = (
    "point the target at a public address; 'allow_private: true' on the target admits "
    "loopback and private networks, never link-local or metadata addresses"
)


@dataclass(frozen=True)
class Endpoint:
    """A checked URL split for a request: the Host to name and the path to ask for."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent on the request line
    where: str  # the target, as errors and logs name it (no path: it may hold a token)


def parse_endpoint(url: str, where: str) -> Endpoint:
    """``url`` split, or :class:`ConfigError` when its scheme or host is refused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refused(where, "scheme", f"scheme {parts.scheme or '(none)'!r} is not http/https")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"{where}: the URL's port is not valid: {exc}") from exc
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ConfigError(f"{where}: the URL has no host", hint="write it as https://host/path")
    if host in METADATA_HOSTS:
        raise _refused(where, "metadata", f"{host} is a cloud metadata service")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    shown = f"[{host}]" if ":" in host else host
    return Endpoint(scheme, host, port, target, f"{where} ({scheme}://{shown}:{port})")


def forbidden_rule(address: IPAddress, *, allow_private: bool) -> str | None:
    """The name of the rule ``address`` breaks, or None when it may be called."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback or address.is_private:  # before reserved: ::1 is in ::/8
        return None if allow_private else "private"
    if address.is_reserved:
        return "reserved"
    if not allow_private and not address.is_global:  # shared (100.64/10), documentation...
        return "private"
    return None


def resolve_allowed(endpoint: Endpoint, *, allow_private: bool) -> list[IPAddress]:
    """The addresses of ``endpoint``'s host, all allowed, or :class:`ConfigError` naming
    the first refused one and its rule; :class:`OSError` when the name does not resolve."""
    infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # drop a zone id
        rule = forbidden_rule(address, allow_private=allow_private)
        if rule is not None:
            shown = (
                endpoint.host if endpoint.host == str(address) else f"{endpoint.host} → {address}"
            )
            raise _refused(endpoint.where, rule, f"{shown} is a {_WHAT[rule]} address")
        if address not in addresses:
            addresses.append(address)
    return addresses


_WHAT = {
    "metadata": "cloud metadata",
    "link-local": "link-local",
    "multicast": "multicast",
    "unspecified": "unspecified",
    "reserved": "reserved",
    "private": "private or loopback",
}


def _refused(where: str, rule: str, why: str) -> ConfigError:
    hint = HINT if rule != "scheme" else "use an http:// or https:// URL"
    return ConfigError(f"{where}: refused by the {rule!r} rule: {why}", hint=hint)
