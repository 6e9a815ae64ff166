"""Reading metric files (JSON or YAML) into flat ``{"dotted.key": number}`` mappings."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conveyor import yamlio
from conveyor.errors import PipelineError


def parse_metrics(text: str, source: str) -> dict[str, float]:
    """Numbers found in a metric file's text, keyed by their dotted path."""
    try:
        data = json.loads(text) if source.endswith(".json") else yamlio.load(text, source)
    except (json.JSONDecodeError, yamlio.YAMLSyntaxError) as exc:
        raise PipelineError(
            f"metrics file {source} is not valid {'JSON' if source.endswith('.json') else 'YAML'}:"
            f" {exc}",
            hint='metrics files hold a mapping of names to numbers, e.g. {"auc": 0.97}',
        ) from None
    flat: dict[str, float] = {}
    _flatten(data, "", flat)
    return flat


def _flatten(node: Any, prefix: str, into: dict[str, float]) -> None:
    special = isinstance(node, str) and node.strip().lower() in {"nan", "inf", "-inf", "+inf"}
    if isinstance(node, bool | int | float) or special:
        into[prefix.rstrip(".")] = float(node)
    elif isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, f"{prefix}{key}.", into)


def read_metrics(root: Path, paths: Iterable[str]) -> dict[str, float]:
    """Metrics of several files merged; a later file's key wins over an earlier one's."""
    merged: dict[str, float] = {}
    for path in paths:
        merged.update(parse_metrics((root / path).read_text(encoding="utf-8"), path))
    return merged


def format_metric(value: float) -> str:
    """A metric for people: NaN and infinities spelled out, others to 6 significant digits."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"
