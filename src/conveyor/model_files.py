"""Files and directories (artifacts, model directories) in the artifact store.

A directory is stored as its files plus its manifest, exactly like a directory out of a
stage (see ``pipeline/outputs.py``), so identical files are stored once across runs.

A fetched tree is kept in a local cache, ``<cache_root>/<digest>``, and reused only while
it still hashes to its digest. The check is cheap: the hasher's stat signature (every
file's path, size, mtime and inode) answers from ``<cache_root>/.statcache.db`` when
nothing changed, and only a changed signature re-reads the files. A copy that differs (a
byte changed, a file added or removed) is replaced by a fresh, verified fetch.
"""

from __future__ import annotations

from pathlib import Path

from conveyor.artifacts import ArtifactStore
from conveyor.errors import PathError
from conveyor.hashing import Hashed, Hasher, StatCache
from conveyor.pipeline.outputs import restore_outs, save_outs
from conveyor.pipeline.state import described


def store_tree(artifacts: ArtifactStore, path: Path) -> Hashed:
    """Store a file or directory; returns its content identity."""
    hasher = Hasher(path.parent, None)
    hashed = hasher.hash_path(path.name, with_files=True)
    save_outs(artifacts, hasher, {path.name: described(hashed)})
    return hashed


STAT_CACHE = ".statcache.db"


def fetch_tree(artifacts: ArtifactStore, digest: str, kind: str, cache_root: Path) -> Path:
    """A verified local copy of a stored tree, at ``cache_root/<digest>``.

    An existing copy is reused only if it still hashes to ``digest``; otherwise it is
    fetched again from the artifact store (which verifies every object it hands out).
    """
    target = cache_root / digest
    if not (target.exists() and _intact(cache_root, digest)):
        restore_outs(artifacts, cache_root, {digest: {"digest": digest, "kind": kind}})
    return target


def _intact(cache_root: Path, digest: str) -> bool:
    """Whether ``cache_root/<digest>`` still hashes to ``digest`` (stat signature first)."""
    cache = StatCache(cache_root / STAT_CACHE)
    try:
        hashed = Hasher(cache_root, cache).hash_path(digest)
    except (FileNotFoundError, NotADirectoryError, PathError):
        return False  # a file where a directory was, or a link Conveyor cannot track
    finally:
        cache.flush()
    return hashed.digest == digest
