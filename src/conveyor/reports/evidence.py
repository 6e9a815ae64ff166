"""A gate's evidence dict as one line of text, whatever keys it holds.

Known keys are written first, in a fixed order and in their own units; any other key with
a plain value (a number, a string, a boolean) follows as ``key value``; lists and dicts the
report does not know are left out (the bootstrap ``distribution`` is drawn, not listed)::

    >>> evidence_line({"candidate": 0.93, "champion": 0.92, "difference": 0.01, "margin": 0.02})
    'candidate 0.93 · champion 0.92 · difference +0.01 · margin 0.02'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor.reports import formatting as f

SEPARATOR = " · "


def _groups(value: Any) -> str:
    if not isinstance(value, list):
        return f.MISSING
    parts = []
    for item in value[:20]:
        if isinstance(item, dict):
            rate = f" {f.number(item['rate'])}" if "rate" in item else ""
            n = f" (n={f.count(item['n'])})" if "n" in item else ""
            parts.append(f"{f.clip(item.get('group', '?'), 40)}{rate}{n}")
    more = f", … {len(value) - 20} more" if len(value) > 20 else ""
    return ", ".join(parts) + more


def _mcnemar(value: Any) -> str:
    if not isinstance(value, dict):
        return f.MISSING
    parts = [f"{key}={f.count(value[key])}" for key in ("b", "c", "n") if key in value]
    if "statistic" in value:
        parts.append(f"statistic {f.number(value['statistic'])}")
    if "p_value" in value:
        parts.append(f"p={f.p_value(value['p_value'])}")
    text = ", ".join(parts)
    test = value.get("test")
    return f"{f.clip(test, 60)}: {text}" if test else text


def _names(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return f.MISSING
    shown = ", ".join(f.clip(v, 30) for v in value[:5])
    return shown + (f" and {len(value) - 5} more" if len(value) > 5 else "")


def _resamples(value: Any) -> str:
    return f"{f.count(len(value))} resampled differences" if isinstance(value, list) else ""


# key → (label, formatter); the order here is the order on the line.
KNOWN: dict[str, tuple[str, Callable[[Any], str]]] = {
    "value": ("value", f.number),
    "candidate": ("candidate", f.number),
    "champion": ("champion", f.number),
    "difference": ("difference", f.signed),
    "improvement": ("improvement", f.signed),
    "higher_is_better": ("", lambda v: "higher is better" if v else "lower is better"),
    "mode": ("mode", lambda v: f.clip(v, 40)),
    "margin": ("margin", f.number),
    "confidence": ("confidence", f.percent),
    "distribution": ("bootstrap", _resamples),
    "mcnemar": ("McNemar", _mcnemar),
    "baseline": ("baseline", f.number),
    "perturbed": ("perturbed", f.number),
    "drop": ("drop", f.number),
    "perturbation": ("perturbation", lambda v: f.clip(v, 40)),
    "amount": ("amount", f.number),
    "columns": ("columns", _names),
    "p50_ms": ("p50", f.milliseconds),
    "p95_ms": ("p95", f.milliseconds),
    "p99_ms": ("p99", f.milliseconds),
    "size_bytes": ("size", f.size),
    "groups": ("groups", _groups),
    "excluded": ("left out (too small)", _groups),
    "gap": ("gap", f.number),
}


def evidence_line(evidence: dict[str, Any]) -> str:
    """The evidence as ``label value`` fragments joined by `` · `` (empty when none)."""
    if not isinstance(evidence, dict):
        return ""
    fragments = [_known(key, evidence[key]) for key in KNOWN if key in evidence]
    fragments += [
        f"{f.clip(key, 40)} {_plain(value)}"
        for key, value in evidence.items()
        if key not in KNOWN and _is_plain(value)
    ]
    return f.clip(SEPARATOR.join(x for x in fragments if x), 1000)


def _known(key: str, value: Any) -> str:
    label, show = KNOWN[key]
    text = show(value)
    if not text or text == f.MISSING:
        return ""
    return f"{label} {text}" if label else text


def _is_plain(value: Any) -> bool:
    return isinstance(value, str | int | float)  # bool is an int


def _plain(value: Any) -> str:
    if isinstance(value, bool | str):
        return f.clip(value, 80)
    return f.number(value)
