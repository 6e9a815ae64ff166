"""Reading the params a stage declares from ``params.yaml`` (or another YAML/JSON file)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from conveyor import yamlio
from conveyor.errors import ConfigError
from conveyor.pipeline.spec import ParamRef

_MISSING = object()


class ParamsReader:
    """Loads each params file once and answers dotted-key lookups."""

    def __init__(self, root: Path, parsed_cache: Path | None = None) -> None:
        self._root = root
        self._parsed_cache = parsed_cache
        self._files: dict[str, dict[str, Any]] = {}

    def _load(self, name: str) -> dict[str, Any]:
        if name not in self._files:
            path = self._root / name
            try:
                if name.endswith(".json"):
                    data = json.loads(path.read_bytes())
                else:
                    data = yamlio.load_file(path, self._parsed_cache)
            except FileNotFoundError:
                raise ConfigError(
                    f"params file {name} does not exist",
                    hint=f"create {name}, or remove the params that refer to it",
                ) from None
            except (yamlio.YAMLSyntaxError, json.JSONDecodeError) as exc:
                raise ConfigError(f"params file {name} is malformed: {exc}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise ConfigError(f"params file {name} must hold a mapping at the top level")
            self._files[name] = data
        return self._files[name]

    def value(self, ref: ParamRef, stage: str) -> Any:
        """The value of ``ref``; a clear error naming the stage if the key is absent."""
        node: Any = self._load(ref.file)
        for part in ref.key.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
            if node is _MISSING:
                close = difflib.get_close_matches(ref.key, flatten_keys(self._load(ref.file)), 1)
                raise ConfigError(
                    f"stage {stage!r} reads param {ref.key!r}, which is not in {ref.file}",
                    hint=f"did you mean {close[0]!r}?" if close else f"add it to {ref.file}",
                )
        return node


def flatten_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key path of a nested mapping, leaves and inner nodes alike."""
    keys = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(value, dict):
            keys.extend(flatten_keys(value, path + "."))
    return keys
