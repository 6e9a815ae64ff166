"""What a stage looks like now, compared with what ``conveyor.lock`` recorded.

The stage key, explained in three lines:
    key = BLAKE3( canonical JSON of {cmd, digest of every dep, value of every param,
                  declared env, declared out paths, key version} )
    equal keys mean "same command on the same inputs", so the outs may be reused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conveyor.dotted import flatten_params
from conveyor.hashing import Hashed, Hasher, hash_bytes
from conveyor.pipeline.lock import LockedStage
from conveyor.pipeline.params import ParamsReader
from conveyor.pipeline.spec import Stage

KEY_VERSION = 1


def described(hashed: Hashed) -> dict[str, Any]:
    """How a dep or out is recorded in the lock file and on stage runs."""
    return {
        "digest": hashed.digest,
        "kind": hashed.kind,
        "size": hashed.size,
        "nfiles": hashed.nfiles,
    }


def stage_key(
    stage: Stage, deps: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]
) -> str:
    """The cache key of ``stage`` given the digests of its deps and its param values."""
    payload = {
        "v": KEY_VERSION,
        "cmd": stage.cmd,
        "deps": {path: deps[path]["digest"] for path in sorted(deps)},
        "params": dict(sorted(params.items())),
        "env": dict(stage.env),
        "outs": sorted(stage.outs),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hash_bytes(canonical.encode())


@dataclass(frozen=True)
class StageState:
    """A stage's inputs as they are now, and why (if at all) it is stale."""

    stage: Stage
    key: str | None  # None while a dep is missing
    deps: dict[str, dict[str, Any]]
    params: dict[str, Any]
    missing_deps: tuple[str, ...]
    reasons: tuple[str, ...]
    outs_match_lock: bool

    @property
    def up_to_date(self) -> bool:
        return not self.reasons


def inspect_stage(
    stage: Stage,
    locked: LockedStage | None,
    hasher: Hasher,
    params: ParamsReader,
    stale_upstream: tuple[str, ...] = (),
) -> StageState:
    """Hash ``stage``'s deps and outs, read its params, and compare them with ``locked``."""
    deps: dict[str, dict[str, Any]] = {}
    missing = []
    for dep in stage.deps:
        try:
            deps[dep] = described(hasher.hash_path(dep))
        except FileNotFoundError:
            missing.append(dep)
    values = {ref.label: params.value(ref, stage.name) for ref in stage.params}
    key = None if missing else stage_key(stage, deps, values)
    # Outs matter only when the inputs are those of the lock: otherwise the stage runs (or
    # is restored) anyway, and hashing outs that are about to be replaced is wasted reading.
    outs_ok = locked is not None and locked.key == key and _outs_match(stage, locked, hasher)
    reasons = _reasons(stage, locked, deps, values, missing, outs_ok, stale_upstream)
    return StageState(stage, key, deps, values, tuple(missing), tuple(reasons), outs_ok)


def _outs_match(stage: Stage, locked: LockedStage, hasher: Hasher) -> bool:
    for out in stage.outs:
        recorded = locked.outs.get(out)
        if recorded is None:
            return False
        try:
            if hasher.hash_path(out).digest != recorded["digest"]:
                return False
        except FileNotFoundError:
            return False
    return True


def _reasons(
    stage: Stage,
    locked: LockedStage | None,
    deps: dict[str, dict[str, Any]],
    values: dict[str, Any],
    missing: list[str],
    outs_ok: bool,
    stale_upstream: tuple[str, ...],
) -> list[str]:
    reasons = [f"upstream stage {name!r} is stale" for name in stale_upstream]
    reasons += [f"dep {dep!r} is missing" for dep in missing]
    if stage.always_run:
        reasons.append("always_run is set")
    if locked is None:
        return [*reasons, "never ran successfully"]
    if locked.cmd != stage.cmd:
        reasons.append("cmd changed")
    for path, now in deps.items():
        before = locked.deps.get(path)
        if before is None:
            reasons.append(f"dep {path!r} is new")
        elif before["digest"] != now["digest"]:
            reasons.append(f"dep {path!r} changed")
    reasons += [f"dep {path!r} was removed" for path in locked.deps if path not in stage.deps]
    now, before = flatten_params(values), flatten_params(locked.params)
    for label, value in now.items():
        if label not in before:
            reasons.append(f"param {label!r} is new")
        elif before[label] != value:
            reasons.append(f"param {label!r} changed: {before[label]!r} -> {value!r}")
    reasons += [f"param {label!r} was removed" for label in before if label not in now]
    if locked.env != dict(stage.env):
        reasons.append("env changed")
    if set(locked.outs) != set(stage.outs):
        reasons.append("declared outs changed")
    elif not reasons and not outs_ok:  # outs are checked only when the inputs are unchanged
        reasons.append("outs are missing or were modified")
    return reasons
