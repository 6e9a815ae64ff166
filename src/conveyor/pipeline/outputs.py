"""Saving a stage's outs into the artifact store and restoring them from it.

A file out is one object. A directory out is one object per file plus its manifest (the
canonical listing whose digest is the directory's digest), so a directory that differs by
one file from an earlier version stores one new object.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ArtifactError
from conveyor.hashing import Hasher, parse_manifest
from conveyor.project import normalize_path, path_problem

if TYPE_CHECKING:
    from conveyor.artifacts import ArtifactStore


def save_outs(store: ArtifactStore, hasher: Hasher, outs: Mapping[str, Mapping[str, Any]]) -> None:
    """Store every out (already hashed into ``outs``) in the artifact store."""
    for path, record in outs.items():
        full = hasher.root / path
        if record["kind"] == "file":
            store.put_file(full, record["digest"])
            continue
        hashed = hasher.hash_path(path, with_files=True)
        if hashed.digest != record["digest"]:
            raise ArtifactError(f"{path} changed while it was being stored")
        for entry in hashed.files:
            store.put_file(full / entry.path, entry.digest)
        store.put_bytes(hashed.manifest_bytes())


def outs_available(store: ArtifactStore, outs: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether every object needed to restore ``outs`` is in the store."""
    for record in outs.values():
        if not store.has(record["digest"]):
            return False
        if record["kind"] == "dir":
            files = parse_manifest(store.get_bytes(record["digest"]))
            if not all(store.has(entry.digest) for entry in files):
                return False
    return True


def restore_outs(store: ArtifactStore, root: Path, outs: Mapping[str, Mapping[str, Any]]) -> None:
    """Put every out back in the workspace, verifying each object on the way."""
    for path, record in outs.items():
        target = root / path
        if record["kind"] == "file":
            if target.is_dir():
                shutil.rmtree(target)
            store.get_file(record["digest"], target)
        else:
            _restore_dir(store, target, record["digest"])


def _restore_dir(store: ArtifactStore, target: Path, digest: str) -> None:
    files = parse_manifest(store.get_bytes(digest))
    for entry in files:
        problem = path_problem(entry.path)
        if problem or normalize_path(entry.path) != entry.path:
            raise ArtifactError(
                f"directory manifest {digest[:12]} lists an unsafe path: {problem or entry.path}",
                hint="the artifact store holds a manifest Conveyor did not write; nothing was "
                "restored",
            )
    staging = target.parent / f".{target.name}.conveyor-{uuid.uuid4().hex[:8]}"
    try:
        for entry in files:
            store.get_file(entry.digest, staging / entry.path)
        staging.mkdir(parents=True, exist_ok=True)
        remove_path(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def remove_path(path: Path) -> None:
    """Delete a file or directory if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
