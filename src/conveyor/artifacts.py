"""Content-addressed artifact store over fsspec.

Every object lives at ``objects/<first two hex digits>/<rest of the BLAKE3 digest>`` below the
store's URL (a local directory by default; any fsspec URL such as ``s3://bucket/prefix``).
Identical content is stored once, whichever run produced it.

Safety rules, each tested:
- A write goes to a temporary name and is renamed into place (on object stores a PUT is
  already atomic), so a crash never leaves half an object under a real digest.
- What is written is hashed again and must match the digest it is stored under.
- Every restore re-hashes the bytes it read; a mismatch raises :class:`CorruptObject` and
  nothing is written into the workspace.
- Digests are validated as 64 lowercase hex characters, so no object name can point
  outside the store.

Beside the objects, *named files* (``predictions/churn/date=2024-05-01/...parquet``) hold
what other tools read by path, such as the gateway's prediction log; they are written
atomically the same way (:meth:`ArtifactStore.write_named`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import ArtifactError, CorruptObject, NotFoundError
from conveyor.hashing import hash_bytes, hash_file

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

DIGEST = re.compile(r"[0-9a-f]{64}")
LEGACY_TMP_AGE_S = 3600


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed BLAKE3 hex digest, else raise."""
    if not DIGEST.fullmatch(digest):
        raise ArtifactError(f"{digest!r} is not a BLAKE3 digest (64 lowercase hex characters)")
    return digest


@contextmanager
def _translated(action: str, where: str) -> Iterator[None]:
    """The one place where filesystem errors from fsspec or the OS become ours."""
    try:
        yield
    except (ArtifactError, NotFoundError):
        raise
    except FileNotFoundError as exc:
        raise NotFoundError(f"{action}: {where} does not exist") from exc
    except OSError as exc:
        raise ArtifactError(f"{action} failed for {where}: {exc}") from exc


class ArtifactStore:
    """Objects addressed by their BLAKE3 digest, on any fsspec filesystem."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        fs, root = fsspec.core.url_to_fs(self.url)
        self.fs: AbstractFileSystem = fs
        self.root: str = root.rstrip("/")
        self._local = "file" in _protocols(fs)
        if self._local:
            os.makedirs(self._path("tmp"), exist_ok=True)

    def _path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def object_path(self, digest: str) -> str:
        """Where the object with ``digest`` lives in the store."""
        check_digest(digest)
        return self._path("objects", digest[:2], digest[2:])

    def has(self, digest: str) -> bool:
        """Whether an object with ``digest`` is stored (its content is not checked)."""
        with _translated("checking an object", digest):
            return bool(self.fs.exists(self.object_path(digest)))

    def put_file(self, source: Path, digest: str) -> bool:
        """Store ``source`` under ``digest``; False if it was already stored."""
        final = self.object_path(digest)
        if self.has(digest):
            return False
        with _translated("storing", str(source)):
            if self._local:
                with self._staged(final) as tmp:
                    shutil.copyfile(source, tmp)
                    _require(hash_file(tmp), digest, f"{source} changed while it was stored")
            else:
                _require(hash_file(source), digest, f"{source} changed while it was stored")
                self.fs.put_file(str(source), final)
        return True

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its digest."""
        digest = hash_bytes(data)
        if self.has(digest):
            return digest
        final = self.object_path(digest)
        with _translated("storing", f"object {digest}"):
            if self._local:
                with self._staged(final) as tmp, open(tmp, "wb") as handle:
                    handle.write(data)
            else:
                self.fs.pipe_file(final, data)
        return digest

    def remove_abandoned_tmp(self) -> int:
        """Delete temporaries whose writer has died (a local store only); how many.

        A temporary is named ``<uuid>.<pid>.<host>`` after the process writing it: one of
        this host whose process is gone is abandoned (a pid reused since only keeps it
        longer). One without a writer in its name (older Conveyor) is abandoned once an hour
        has passed since it was last written.
        """
        if not self._local:
            return 0
        removed = 0
        for entry in os.scandir(self._path("tmp")):
            if _abandoned(entry):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    @contextmanager
    def _staged(self, final: str) -> Iterator[str]:
        """A temporary name to write to; renamed read-only onto ``final`` if all went well."""
        tmp = self._path("tmp", f"{uuid.uuid4().hex}.{os.getpid()}.{socket.gethostname()}")
        try:
            yield tmp
            os.chmod(tmp, 0o444)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def write_named(self, name: str, data: bytes) -> str:
        """Write ``data`` to the named file ``name`` (a relative path) atomically; its path."""
        final = self._path(_check_name(name))
        with _translated("writing", name):
            if self._local:
                with self._staged(final) as tmp, open(tmp, "wb") as handle:
                    handle.write(data)
            else:
                self.fs.pipe_file(final, data)
        return final

    def path_of(self, name: str) -> str:
        """The path of the named file ``name`` on :attr:`fs` (for readers that open it)."""
        return self._path(_check_name(name))

    def list_named(self, prefix: str) -> list[str]:
        """The names of the named files below ``prefix``, sorted (none if it does not exist)."""
        base = self._path(_check_name(prefix))
        with _translated("listing", prefix):
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        return sorted(path.removeprefix(self.root + "/") for path in found)

    def read_named(self, name: str) -> bytes:
        """The content of the named file ``name``."""
        with _translated("reading", name):
            data: bytes = self.fs.cat_file(self._path(_check_name(name)))
        return data

    def get_bytes(self, digest: str) -> bytes:
        """The verified content of an object."""
        with _translated("reading", f"object {digest}"):
            data: bytes = self.fs.cat_file(self.object_path(digest))
        if hash_bytes(data) != digest:
            raise self._corrupt(digest)
        return data

    def get_file(self, digest: str, dest: Path) -> None:
        """Write an object to ``dest`` atomically, after checking its content."""
        source = self.object_path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.conveyor-{uuid.uuid4().hex[:8]}"
        try:
            with _translated("restoring", f"object {digest}"):
                if self._local:
                    shutil.copyfile(source, tmp)
                else:
                    self.fs.get_file(source, str(tmp))
            if hash_file(tmp) != digest:
                raise self._corrupt(digest)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()

    def discard(self, digest: str) -> None:
        """Delete a (damaged) object so that the next store of that content writes it anew."""
        with _translated("deleting", f"object {digest}"):
            if self.fs.exists(self.object_path(digest)):
                self.fs.rm_file(self.object_path(digest))

    def _corrupt(self, digest: str) -> CorruptObject:
        return CorruptObject(
            f"object {digest[:12]} at {self.object_path(digest)} does not match its digest; "
            "it was not restored",
            hint="the stored copy is damaged: delete that file and re-run with "
            "`conveyor run --force` to produce it again",
            digest=digest,
        )


def _abandoned(entry: os.DirEntry[str]) -> bool:
    parts = entry.name.split(".", 2)
    if len(parts) < 3 or not parts[1].isdigit():
        return time.time() - entry.stat().st_mtime > LEGACY_TMP_AGE_S
    if parts[2] != socket.gethostname():
        return False  # a store shared between hosts: its writer may be alive elsewhere
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _check_name(name: str) -> str:
    """``name`` if it is a relative path inside the store and outside objects/ and tmp/."""
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts) or parts[0] in ("objects", "tmp"):
        raise ArtifactError(
            f"{name!r} is not a name for a file in the artifact store",
            hint="use a relative path such as predictions/churn/file.parquet, "
            "outside objects/ and tmp/",
        )
    return name


def _require(actual: str, expected: str, message: str) -> None:
    if actual != expected:
        raise ArtifactError(message, hint="make sure nothing writes to it, then try again")
