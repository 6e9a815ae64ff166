"""YAML through libyaml when it is there, and a JSON cache of parsed files.

Importing PyYAML costs ~10 ms and parsing in pure Python far more; ``conveyor status``
reads ``conveyor.lock`` and ``params.yaml`` every time. ``load_file`` keeps the parsed
content as JSON under ``.conveyor/parsed/<BLAKE3 of the file's bytes>.json``, so an
unchanged file is never parsed twice — and never needs PyYAML imported. Content that JSON
cannot carry exactly (dates, non-string keys) is simply not cached.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError
from conveyor.hashing import hash_bytes

if TYPE_CHECKING:
    import yaml


class YAMLSyntaxError(ValueError):
    """The text is not valid YAML; ``str()`` says where (line and column)."""


def load(text: str, source: str = "the text") -> Any:
    """Parse YAML safely (no arbitrary objects); :class:`YAMLSyntaxError` if malformed.

    ``source`` names the file in the error, in place of PyYAML's ``"<unicode string>"``.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).replace('"<unicode string>"', source).split())
        raise YAMLSyntaxError(message) from exc


def compose(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (its marks give line and column for error messages).

    Malformed YAML is a :class:`ConfigError` naming ``source:line:column``, with the line
    as hint.
    """
    import yaml

    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(
            f"{where}: malformed YAML: {exc.problem}", hint=_excerpt(text, mark)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: malformed YAML: {exc}") from None


def _excerpt(text: str, mark: Any) -> str | None:
    if mark is None:
        return None
    lines = text.splitlines()
    if mark.line >= len(lines):
        return None
    return f"line {mark.line + 1}: {lines[mark.line].rstrip()}"


def dump(data: Any) -> str:
    """Serialise to block-style YAML, keeping the mapping order."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, width=100)


def load_file(path: Path, cache_dir: Path | None) -> Any:
    """Parse the YAML file at ``path``, reusing an earlier parse of the same bytes."""
    raw = path.read_bytes()
    if cache_dir is None:
        return load(raw.decode("utf-8"), path.name)
    cached = cache_dir / f"{hash_bytes(raw)}.json"
    try:
        return json.loads(cached.read_bytes())
    except (OSError, ValueError):
        pass  # not parsed before (or a damaged cache entry): parse it
    data = load(raw.decode("utf-8"), path.name)
    _remember(cached, data)
    return data


def _remember(cached: Path, data: Any) -> None:
    try:
        text = json.dumps(data)
        if json.loads(text) != data:
            return
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, cached)
    except (OSError, TypeError, ValueError):
        return  # only costs a parse next time
