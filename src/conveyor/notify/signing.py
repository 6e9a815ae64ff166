"""Webhook signatures: HMAC-SHA256 over ``"<timestamp>.<body>"``, Stripe-style.

The header is ``X-Conveyor-Signature: t=<unix seconds>,v1=<hex digest>``. Signing the
timestamp with the body lets a receiver refuse a captured request replayed later: it
checks the digest (in constant time) and that ``t`` is within ``tolerance_s`` of its clock.

A receiver (see docs/notifications.md)::

    from conveyor.notify import verify_signature
    if not verify_signature(secret, request.headers["X-Conveyor-Signature"], raw_body):
        return 400
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Conveyor-Signature"


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_s``
    of ``now`` (default: this clock). Any malformed header is simply False.

    Several ``v1=`` entries are accepted (one matching is enough), so a sender can sign with
    an old and a new secret while the receiver rotates.
    """
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body).encode()
    # compare_digest on every candidate: the time taken does not say which one matched.
    # As bytes: compare_digest refuses non-ASCII str, and a header may hold anything.
    matches = [hmac.compare_digest(expected, c.encode()) for c in candidates]
    return any(matches)


def _digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
