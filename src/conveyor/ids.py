"""Identifiers and timestamps: one place decides their shape."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_id() -> str:
    """A 12-hex-character random id; users may type any unique prefix of it."""
    return secrets.token_hex(6)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
