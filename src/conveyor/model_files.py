"""Files and directories (artifacts, model directories) in the artifact store.

A directory is stored as its files plus its manifest, exactly like a directory out of a
stage (see ``pipeline/outputs.py``), so identical files are stored once across runs.
"""

from __future__ import annotations

from pathlib import Path

from conveyor.artifacts import ArtifactStore
from conveyor.hashing import Hashed, Hasher
from conveyor.pipeline.outputs import restore_outs, save_outs
from conveyor.pipeline.state import described


def store_tree(artifacts: ArtifactStore, path: Path) -> Hashed:
    """Store a file or directory; returns its content identity."""
    hasher = Hasher(path.parent, None)
    hashed = hasher.hash_path(path.name, with_files=True)
    save_outs(artifacts, hasher, {path.name: described(hashed)})
    return hashed


def fetch_tree(artifacts: ArtifactStore, digest: str, kind: str, cache_root: Path) -> Path:
    """A verified local copy of a stored tree, at ``cache_root/<digest>`` (reused if there)."""
    target = cache_root / digest
    if not target.exists():
        restore_outs(artifacts, cache_root, {digest: {"digest": digest, "kind": kind}})
    return target
