"""Content hashing of files and directories (BLAKE3), with a stat cache.

A file's digest is the BLAKE3 of its bytes. A directory's digest is the BLAKE3 of its
*manifest*: the canonical JSON list of ``{"path", "digest", "size"}`` of every file below it,
sorted by path. So one changed file changes one manifest line, and only that file is
re-hashed and, when stored, only that file becomes a new object.

The stat cache remembers ``(size, mtime_ns, inode) -> digest`` per path, so an unchanged
file is never re-read. An entry is trusted only if the file was last modified at least
:data:`RACY_WINDOW_NS` before it was hashed; otherwise a write in the same timestamp tick
could go unseen (git's "racily clean" problem), and the file is hashed again next time.

The cache is plain ``sqlite3`` on purpose: ``conveyor status`` must answer without paying
SQLAlchemy's import (~0.4 s here).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import struct
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3

from conveyor.errors import PathError

RACY_WINDOW_NS = 1_000_000_000
LARGE_FILE = 16 * 1024 * 1024
SINGLE_LOOKUPS = 32
_STAT = struct.Struct("<qqQ")  # past this many lookups, loading the whole stat table is cheaper
CHUNK = 1024 * 1024
HASH_THREADS = min(32, (os.cpu_count() or 1) * 4)


@dataclass(frozen=True)
class FileEntry:
    """One file inside a directory manifest."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class Hashed:
    """The content identity of a file or directory."""

    kind: str  # "file" or "dir"
    digest: str
    size: int
    nfiles: int
    files: tuple[FileEntry, ...] = field(default=(), compare=False)  # only with with_files

    def manifest_bytes(self) -> bytes:
        """The canonical manifest of a directory (what its digest is the hash of)."""
        return manifest_bytes(self.files)


TEMPORARY = re.compile(r"\..+\.conveyor-[0-9a-f]{8}")


def manifest_bytes(files: Iterable[FileEntry]) -> bytes:
    """Canonical JSON of a directory listing: sorted, no whitespace, ASCII."""
    ordered = sorted(files, key=lambda f: f.path)
    rows = [{"path": f.path, "digest": f.digest, "size": f.size} for f in ordered]
    return json.dumps(rows, separators=(",", ":"), sort_keys=True).encode()


def parse_manifest(data: bytes) -> tuple[FileEntry, ...]:
    """Inverse of :func:`manifest_bytes`."""
    return tuple(FileEntry(r["path"], r["digest"], int(r["size"])) for r in json.loads(data))


def hash_bytes(data: bytes) -> str:
    """BLAKE3 hex digest of ``data``."""
    return blake3.blake3(data).hexdigest()


def hash_file(path: Path | str, size: int | None = None) -> str:
    """BLAKE3 hex digest of one file; large files are hashed on every core via mmap."""
    if size is None:
        size = os.stat(path).st_size
    if size >= LARGE_FILE:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(path)
        return hasher.hexdigest()
    hasher = blake3.blake3()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


class StatCache:
    """``path -> (size, mtime_ns, inode, digest)`` in a small SQLite file."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._entries: dict[str, tuple[int, int, int, str, int]] | None = None
        self._pending: dict[str, tuple[int, int, int, str, int]] = {}
        self._pending_dirs: dict[str, tuple[str, str, int, int]] = {}
        self._single_lookups = 0

    def _row(self, sql: str, key: str) -> tuple[Any, ...] | None:
        """One row by key, without loading the whole table (most lookups are a few files)."""
        if not self._db_path.exists():
            return None
        try:
            with closing(sqlite3.connect(self._db_path, timeout=30)) as conn:
                row = conn.execute(sql, (key,)).fetchone()
        except sqlite3.Error:
            return None  # no table yet, or a damaged cache: only costs a re-hash
        return tuple(row) if row else None

    def _entry(self, key: str) -> tuple[int, int, int, str, int] | None:
        if self._entries is None and self._single_lookups < SINGLE_LOOKUPS:
            self._single_lookups += 1
            row = self._row(
                "SELECT size, mtime_ns, inode, digest, hashed_ns FROM stat WHERE path = ?", key
            )
            return (row[0], row[1], row[2], row[3], row[4]) if row else None
        return self._load().get(key)

    def _load(self) -> dict[str, tuple[int, int, int, str, int]]:
        if self._entries is None:
            self._entries = {}
            if self._db_path.exists():
                try:
                    with closing(self._connect()) as conn:
                        rows = conn.execute(
                            "SELECT path, size, mtime_ns, inode, digest, hashed_ns FROM stat"
                        )
                        self._entries = {r[0]: tuple(r[1:]) for r in rows}
                except sqlite3.Error:
                    pass  # a damaged cache only costs a re-hash
        return self._entries

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db_path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INTEGER, "
            "mtime_ns INTEGER, inode INTEGER, digest TEXT, hashed_ns INTEGER)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, signature TEXT, "
            "digest TEXT, size INTEGER, nfiles INTEGER)"
        )
        return conn

    def lookup_dir(self, key: str, signature: str) -> tuple[str, int, int] | None:
        """``(digest, size, nfiles)`` of a directory whose stat signature is unchanged."""
        entry = self._pending_dirs.get(key)
        if entry is None:
            row = self._row("SELECT signature, digest, size, nfiles FROM dirs WHERE path = ?", key)
            entry = (row[0], row[1], row[2], row[3]) if row else None
        if entry is None or entry[0] != signature:
            return None
        return entry[1], entry[2], entry[3]

    def record_dir(self, key: str, signature: str, digest: str, size: int, nfiles: int) -> None:
        """Remember a directory's digest under the signature of its files' stats."""
        self._pending_dirs[key] = (signature, digest, size, nfiles)

    def lookup(self, key: str, st: os.stat_result) -> str | None:
        """The cached digest of ``key`` if its stat still matches and was not racy."""
        entry = self._pending.get(key) or self._entry(key)
        if entry is None:
            return None
        size, mtime_ns, inode, digest, hashed_ns = entry
        if (size, mtime_ns, inode) != (st.st_size, st.st_mtime_ns, st.st_ino):
            return None
        if st.st_mtime_ns + RACY_WINDOW_NS > hashed_ns:
            return None
        return digest

    def record(self, key: str, st: os.stat_result, digest: str, hashed_ns: int) -> None:
        """Remember a digest computed at ``hashed_ns`` (nanoseconds, wall clock)."""
        self._pending[key] = (st.st_size, st.st_mtime_ns, st.st_ino, digest, hashed_ns)

    def flush(self) -> None:
        """Write the new entries; a failure to write only costs a re-hash later."""
        if not self._pending and not self._pending_dirs:
            return
        try:
            self._db_path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as conn, conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)",
                    [(k, *v) for k, v in self._pending.items()],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO dirs VALUES (?, ?, ?, ?, ?)",
                    [(k, *v) for k, v in self._pending_dirs.items()],
                )
        except (OSError, sqlite3.Error):
            return
        if self._entries is not None:
            self._entries.update(self._pending)
        self._pending.clear()
        self._pending_dirs.clear()


class Hasher:
    """Hashes project paths, reusing the stat cache and hashing misses in parallel."""

    def __init__(self, root: Path, cache: StatCache | None) -> None:
        self.root = root
        self.cache = cache
        # Digests computed by this process, reused while the stat is unchanged even when
        # too recent to trust across processes (an out hashed after its stage, then again
        # as the next stage's dep, is read once).
        self._memo: dict[str, tuple[int, int, int, str]] = {}

    def hash_path(self, rel: str, *, with_files: bool = False) -> Hashed:
        """Digest of a project-relative file or directory; FileNotFoundError if absent.

        For a directory, ``with_files`` asks for its manifest entries too (needed to store
        it); without it, an unchanged directory is answered from its stat signature alone.
        """
        full = os.path.join(self.root, rel)
        st = os.stat(full)
        if stat.S_ISDIR(st.st_mode):
            return self._hash_dir(rel, full, with_files)
        digest = self._hash_files([(rel, full, st)])[rel]
        return Hashed("file", digest, st.st_size, 1)

    def _hash_dir(self, rel: str, full: str, with_files: bool) -> Hashed:
        listing: list[tuple[str, str, os.stat_result]] = []
        _scan(full, rel + "/", listing)
        # The signature changes whenever any file is added, removed, resized, rewritten
        # (mtime) or replaced (inode), so an equal signature means an unchanged directory.
        # It is taken in directory-listing order, which is stable while nothing changes; a
        # different order only costs a miss.
        signature = hash_bytes(
            b"".join(
                key.encode() + _STAT.pack(st.st_size, st.st_mtime_ns, st.st_ino)
                for key, _, st in listing
            )
        )
        if self.cache and not with_files:
            hit = self.cache.lookup_dir(rel, signature)
            if hit is not None:
                return Hashed("dir", hit[0], hit[1], hit[2])
        started = time.time_ns()
        digests = self._hash_files(listing)
        prefix = len(rel) + 1
        files = tuple(
            sorted(
                (FileEntry(key[prefix:], digests[key], st.st_size) for key, _, st in listing),
                key=lambda entry: entry.path,
            )
        )
        hashed = Hashed(
            "dir", hash_bytes(manifest_bytes(files)), sum(f.size for f in files), len(files), files
        )
        newest = max((st.st_mtime_ns for _, _, st in listing), default=0)
        if self.cache and newest + RACY_WINDOW_NS <= started:
            self.cache.record_dir(rel, signature, hashed.digest, hashed.size, hashed.nfiles)
        return hashed

    def _hash_files(self, listing: list[tuple[str, str, os.stat_result]]) -> dict[str, str]:
        digests: dict[str, str] = {}
        misses = []
        for key, full, st in listing:
            cached = self._memo.get(key)
            if cached is not None and cached[:3] != (st.st_size, st.st_mtime_ns, st.st_ino):
                cached = None
            elif cached is None and self.cache is not None:
                hit = self.cache.lookup(key, st)
                cached = None if hit is None else (0, 0, 0, hit)
            if cached is None:
                misses.append((key, full, st))
            else:
                digests[key] = cached[3]
        if misses:
            now = time.time_ns()
            if len(misses) == 1:
                results = [hash_file(misses[0][1], misses[0][2].st_size)]
            else:
                from concurrent.futures import ThreadPoolExecutor  # only when there is work

                with ThreadPoolExecutor(HASH_THREADS) as pool:
                    results = list(pool.map(lambda m: hash_file(m[1], m[2].st_size), misses))
            for (key, _, st), digest in zip(misses, results, strict=True):
                digests[key] = digest
                self._memo[key] = (st.st_size, st.st_mtime_ns, st.st_ino, digest)
                if self.cache:
                    self.cache.record(key, st, digest, now)
        return digests


def is_temporary(name: str) -> bool:
    """Whether ``name`` is one of Conveyor's temporaries (``.NAME.conveyor-1a2b3c4d``),
    written beside a file or directory while it is restored and renamed over it."""
    return name.startswith(".") and TEMPORARY.fullmatch(name) is not None


def _scan(top: str, prefix: str, into: list[tuple[str, str, os.stat_result]]) -> None:
    """Every file below ``top`` as ``(prefix + relative path, full path, stat)``, without
    Conveyor's temporaries (a killed restore may leave one)."""
    with os.scandir(top) as entries:
        for entry in entries:
            if ".conveyor-" in entry.name and is_temporary(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                _scan(entry.path, f"{prefix}{entry.name}/", into)
            elif entry.is_symlink():
                into.append((prefix + entry.name, entry.path, _link_target_stat(entry)))
            else:
                into.append((prefix + entry.name, entry.path, entry.stat()))


def _link_target_stat(entry: os.DirEntry[str]) -> os.stat_result:
    """A link to a file counts as that file; other links cannot be tracked."""
    try:
        st = entry.stat()
    except FileNotFoundError:
        raise PathError(
            f"{entry.path} is a broken symbolic link",
            hint="remove it or point it at a file; Conveyor hashes what links point to",
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise PathError(
            f"{entry.path} is a symbolic link to a directory, which Conveyor does not follow",
            hint="replace the link with the directory itself, or declare that directory "
            "as a dep or out of its own",
        )
    return st
