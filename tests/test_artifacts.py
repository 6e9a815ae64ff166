"""The content-addressed artifact store, on a local path and on a ``file://`` URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conveyor import artifacts
from conveyor.artifacts import ArtifactStore
from conveyor.errors import ArtifactError, CorruptObject, NotFoundError
from conveyor.hashing import hash_bytes, hash_file

CONTENT = b"weights: 0.1 0.2 0.3\n"
DIGEST = hash_bytes(CONTENT)


@pytest.fixture(params=["path", "file-url"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    root = tmp_path / "store"
    if request.param == "path":
        return ArtifactStore(str(root))
    return ArtifactStore(f"file://{root}/")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "model.bin"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


def stored_objects(store: ArtifactStore) -> list[Path]:
    return sorted(p for p in Path(store.root, "objects").rglob("*") if p.is_file())


def leftovers(store: ArtifactStore) -> list[str]:
    return os.listdir(Path(store.root, "tmp"))


def corrupt(store: ArtifactStore, digest: str, data: bytes = b"bit rot") -> None:
    path = Path(store.object_path(digest))
    path.chmod(0o644)
    path.write_bytes(data)


# --- round trips -------------------------------------------------------------------------


def test_put_file_then_get_file_restores_the_same_bytes(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    assert store.put_file(source, DIGEST) is True
    dest = tmp_path / "restored" / "deep" / "model.bin"

    store.get_file(DIGEST, dest)

    assert dest.read_bytes() == CONTENT
    assert store.has(DIGEST)
    assert stored_objects(store) == [Path(store.root, "objects", DIGEST[:2], DIGEST[2:])]


def test_get_file_replaces_an_existing_file_and_leaves_it_writable(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    store.put_file(source, DIGEST)
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"stale content, longer than the stored object" * 10)

    store.get_file(DIGEST, dest)

    assert dest.read_bytes() == CONTENT
    assert os.access(dest, os.W_OK)
    assert [p.name for p in tmp_path.iterdir() if ".conveyor-" in p.name] == []


def test_stored_objects_are_read_only(store: ArtifactStore, source: Path) -> None:
    store.put_file(source, DIGEST)

    assert Path(store.object_path(DIGEST)).stat().st_mode & 0o222 == 0


def test_put_bytes_then_get_bytes(store: ArtifactStore) -> None:
    digest = store.put_bytes(CONTENT)

    assert digest == DIGEST
    assert store.get_bytes(digest) == CONTENT


def test_the_empty_file_round_trips(store: ArtifactStore, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    store.put_file(empty, hash_bytes(b""))

    store.get_file(hash_bytes(b""), tmp_path / "out")

    assert (tmp_path / "out").read_bytes() == b""


# --- deduplication and temporary files ---------------------------------------------------


def test_the_same_content_is_stored_once(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    twin = tmp_path / "twin.bin"
    twin.write_bytes(CONTENT)

    assert store.put_file(source, DIGEST) is True
    assert store.put_file(source, DIGEST) is False
    assert store.put_file(twin, DIGEST) is False
    assert store.put_bytes(CONTENT) == DIGEST
    assert len(stored_objects(store)) == 1


def test_puts_leave_no_temporary_files(store: ArtifactStore, source: Path) -> None:
    store.put_file(source, DIGEST)
    store.put_file(source, DIGEST)
    store.put_bytes(b"other")
    store.put_bytes(b"other")

    assert leftovers(store) == []
    assert len(stored_objects(store)) == 2


# --- corruption --------------------------------------------------------------------------


def test_a_corrupt_object_is_never_restored(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    store.put_file(source, DIGEST)
    corrupt(store, DIGEST)
    dest = tmp_path / "out" / "model.bin"

    with pytest.raises(CorruptObject, match="does not match its digest") as info:
        store.get_file(DIGEST, dest)

    assert info.value.digest == DIGEST
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no temporary file left behind either


def test_a_corrupt_object_does_not_overwrite_the_workspace_file(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    store.put_file(source, DIGEST)
    corrupt(store, DIGEST, b"x" * len(CONTENT))  # same size: only the hash can tell
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"my local edits")

    with pytest.raises(CorruptObject):
        store.get_file(DIGEST, dest)

    assert dest.read_bytes() == b"my local edits"


def test_get_bytes_of_a_corrupt_object_raises(store: ArtifactStore) -> None:
    store.put_bytes(CONTENT)
    corrupt(store, DIGEST)

    with pytest.raises(CorruptObject):
        store.get_bytes(DIGEST)


def test_discard_removes_a_corrupt_object_so_the_next_put_writes_it_anew(
    store: ArtifactStore, source: Path, tmp_path: Path
) -> None:
    store.put_file(source, DIGEST)
    corrupt(store, DIGEST)

    store.discard(DIGEST)

    assert not store.has(DIGEST)
    assert stored_objects(store) == []
    assert store.put_file(source, DIGEST) is True
    store.get_file(DIGEST, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == CONTENT


def test_discard_of_an_absent_object_is_a_no_op(store: ArtifactStore) -> None:
    store.discard(DIGEST)

    assert not store.has(DIGEST)


def test_a_missing_object_is_not_found_and_nothing_is_written(
    store: ArtifactStore, tmp_path: Path
) -> None:
    dest = tmp_path / "out" / "model.bin"

    with pytest.raises(NotFoundError):
        store.get_file(DIGEST, dest)
    with pytest.raises(NotFoundError):
        store.get_bytes(DIGEST)

    assert not dest.exists()


# --- digests that could escape the store -------------------------------------------------

BAD_DIGESTS = [
    "../../etc/passwd",
    "../" * 20 + "a" * 4,
    DIGEST.upper(),
    DIGEST[:63],
    DIGEST + "0",
    "",
    f"{DIGEST[:62]}/x",
    f"{DIGEST}\n",
    "g" * 64,
]


class Tripwire:
    """A filesystem that fails the test when anything touches it."""

    def __getattr__(self, name: str) -> object:
        def touched(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"the filesystem was touched: fs.{name}{args}")

        return touched


@pytest.fixture
def untouchable(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> ArtifactStore:
    def no_copy(*args: object, **kwargs: object) -> None:
        raise AssertionError("the filesystem was touched: shutil.copyfile")

    monkeypatch.setattr(store, "fs", Tripwire())
    monkeypatch.setattr(artifacts.shutil, "copyfile", no_copy)
    return store


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_malformed_digests_are_refused_before_any_filesystem_access(
    untouchable: ArtifactStore, source: Path, tmp_path: Path, digest: str
) -> None:
    dest = tmp_path / "never" / "created"
    calls = [
        lambda: untouchable.object_path(digest),
        lambda: untouchable.has(digest),
        lambda: untouchable.put_file(source, digest),
        lambda: untouchable.get_bytes(digest),
        lambda: untouchable.get_file(digest, dest),
        lambda: untouchable.discard(digest),
    ]
    for call in calls:
        with pytest.raises(ArtifactError, match="is not a BLAKE3 digest"):
            call()

    assert not dest.parent.exists()
    assert leftovers(untouchable) == []


# --- content that changes while it is stored ---------------------------------------------


def test_a_file_that_changes_after_hashing_is_refused_and_not_stored(
    store: ArtifactStore, source: Path
) -> None:
    digest = hash_file(source)
    source.write_bytes(b"rewritten by a still-running process")

    with pytest.raises(ArtifactError, match="changed while it was stored"):
        store.put_file(source, digest)

    assert not store.has(digest)
    assert not store.has(hash_file(source))
    assert stored_objects(store) == []
    assert leftovers(store) == []


def test_a_missing_source_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        store.put_file(tmp_path / "absent", DIGEST)

    assert leftovers(store) == []
