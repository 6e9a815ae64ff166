"""``conveyor.lock``: what the last successful run of each stage saw and produced.

It is committed to git (like ``dvc.lock``), so any checkout says exactly which data,
params and code produced which outs. It is rewritten atomically after each stage succeeds.

    schema: '1'
    stages:
      train:
        cmd: python src/train.py
        key: 5f1c…            # the stage's cache key (see pipeline/state.py)
        deps:
          data/prepared: {digest: 9ab2…, kind: dir, size: 51200, nfiles: 2}
        params:
          train.C: 1.0
        env: {}
        outs:
          models/model.skops: {digest: 77e0…, kind: file, size: 1834, nfiles: 1}
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conveyor import yamlio
from conveyor.errors import ConfigError

LOCK_FILE = "conveyor.lock"
SCHEMA = "1"


@dataclass(frozen=True)
class LockedStage:
    """One stage's entry in the lock file."""

    cmd: str
    key: str
    deps: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    outs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cmd": self.cmd,
            "key": self.key,
            "deps": self.deps,
            "params": self.params,
            "env": self.env,
            "outs": self.outs,
        }


def parse_lock(text: str, source: str = LOCK_FILE) -> dict[str, LockedStage]:
    """Parse lock-file text; ``source`` names it in errors."""
    try:
        data = yamlio.load(text, source)
    except yamlio.YAMLSyntaxError as exc:
        raise _malformed(source, exc) from None
    return _entries(data, source)


def _malformed(source: str, exc: Exception) -> ConfigError:
    return ConfigError(
        f"{source} is malformed: {exc}",
        hint="restore it from git (`git checkout -- conveyor.lock`) or delete it",
    )


def _entries(data: Any, source: str) -> dict[str, LockedStage]:
    data = data or {}
    if not isinstance(data, dict) or not isinstance(data.get("stages") or {}, dict):
        raise ConfigError(
            f"{source} should map 'stages' to one entry per stage, found "
            f"{type(data).__name__ if not isinstance(data, dict) else 'something else'}",
            hint="restore it from git (`git checkout -- conveyor.lock`) or delete it",
        )
    try:
        return {
            name: LockedStage(
                cmd=entry["cmd"],
                key=entry["key"],
                deps=entry.get("deps") or {},
                params=entry.get("params") or {},
                env=entry.get("env") or {},
                outs=entry.get("outs") or {},
            )
            for name, entry in (data.get("stages") or {}).items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{source} has a stage entry without {exc} or of the wrong shape",
            hint="restore it from git (`git checkout -- conveyor.lock`) or delete it",
        ) from None


def read_lock(root: Path, parsed_cache: Path | None = None) -> dict[str, LockedStage]:
    """The lock entries of the project at ``root`` (empty if there is no lock file).

    ``parsed_cache`` is where earlier parses are kept (see :func:`conveyor.yamlio.load_file`).
    """
    try:
        data = yamlio.load_file(root / LOCK_FILE, parsed_cache)
    except FileNotFoundError:
        return {}
    except yamlio.YAMLSyntaxError as exc:
        raise _malformed(LOCK_FILE, exc) from None
    return _entries(data, LOCK_FILE)


def write_lock(root: Path, stages: dict[str, LockedStage], order: tuple[str, ...]) -> None:
    """Write the lock atomically; stages keep the pipeline's order, unknown ones are dropped."""
    data = {
        "schema": SCHEMA,
        "stages": {name: stages[name].as_dict() for name in order if name in stages},
    }
    text = yamlio.dump(data)
    fd, tmp = tempfile.mkstemp(prefix=".conveyor.lock.", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, root / LOCK_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
