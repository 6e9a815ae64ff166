"""How the report writes numbers: 4 significant figures, p-values, milliseconds, bytes.

Every function takes what the contract may hold (a float, None, NaN, an int) and returns a
short string; a missing or non-finite value becomes ``"—"``::

    >>> number(0.912345), signed(0.01234), p_value(0.0004), size(1_234_567)
    ('0.9123', '+0.01234', '<0.001', '1.23 MB')
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"


def as_float(value: Any) -> float | None:
    """The value as a finite float, or None (missing, NaN, infinite, not a number)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def number(value: Any) -> str:
    """4 significant figures; thousands separators from 1,000 up; ``—`` when missing."""
    x = as_float(value)
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def signed(value: Any) -> str:
    """Like :func:`number`, with an explicit sign (a difference: ``+0.012``, ``-0.003``)."""
    text = number(value)
    x = as_float(value)
    return f"+{text}" if x is not None and x > 0 else text


def count(value: Any) -> str:
    """An integer with thousands separators (``12,345``)."""
    x = as_float(value)
    return MISSING if x is None else f"{round(x):,}"


def p_value(value: Any) -> str:
    """Three decimals, ``<0.001`` below that (``0.003``, ``0.250``)."""
    x = as_float(value)
    if x is None:
        return MISSING
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def percent(value: Any) -> str:
    """A fraction as a percentage (``0.95`` → ``95%``)."""
    x = as_float(value)
    return MISSING if x is None else f"{x * 100:.4g}%"


def milliseconds(value: Any) -> str:
    """A latency: ``3.21 ms``."""
    x = as_float(value)
    return MISSING if x is None else f"{number(x)} ms"


def size(value: Any) -> str:
    """Bytes in B, KB, MB or GB (decimal units: 1 MB = 1,000,000 bytes)."""
    x = as_float(value)
    if x is None:
        return MISSING
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{round(x)} B"


def interval(bounds: Any, *, with_sign: bool = False) -> str:
    """``[0.01, 0.04]``, or ``—`` unless two numbers are given."""
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        return MISSING
    if as_float(bounds[0]) is None or as_float(bounds[1]) is None:
        return MISSING
    show = signed if with_sign else number
    return f"[{show(bounds[0])}, {show(bounds[1])}]"


def in_units(metric: str, value: Any) -> str:
    """A value in the unit its metric's name implies: ``*_ms``, ``*bytes*``, ``*_mb``."""
    name = metric.lower()
    if name.endswith("_ms") or "latency" in name:
        return milliseconds(value)
    if "bytes" in name:
        return size(value)
    if name.endswith("_mb") and as_float(value) is not None:
        return f"{number(value)} MB"
    return number(value)


def signed_in_units(metric: str, value: Any) -> str:
    """A difference in its metric's unit, with its sign: ``+0.012``, ``-0.3 ms``, ``+12 KB``."""
    text = in_units(metric, value)
    x = as_float(value)
    if x is None:
        return text
    if "bytes" in metric.lower():
        text = size(abs(x))
        return text if x == 0 else ("+" if x > 0 else "-") + text
    return f"+{text}" if x > 0 else text


def clip(text: Any, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (longer text ends in ``…``)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
