"""Content hashing: digests, directory manifests, and the stat cache that skips re-reads."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor import hashing
from conveyor.hashing import (
    CHUNK,
    LARGE_FILE,
    RACY_WINDOW_NS,
    FileEntry,
    Hasher,
    StatCache,
    hash_file,
    manifest_bytes,
    parse_manifest,
)

SECOND = 1_000_000_000

names = st.text("abcxyz019_-.", min_size=1, max_size=8).filter(lambda n: n not in {".", ".."})
rel_paths = st.builds(
    lambda folder, name: f"{folder}{name}.bin", st.sampled_from(["", "sub/", "sub/deep/"]), names
)
trees = st.dictionaries(rel_paths, st.binary(max_size=256), min_size=1, max_size=8)


def write_tree(root: Path, files: dict[str, bytes], order: list[str]) -> None:
    for rel in order:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])


def blake(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


# --- files -------------------------------------------------------------------------------


@given(data=st.binary(max_size=4096))
def test_a_file_digest_is_the_blake3_of_its_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f"
        path.write_bytes(data)
        assert hash_file(path) == blake(data)
        assert hash_file(str(path), size=len(data)) == blake(data)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_a_file_digest_is_right_across_read_chunk_boundaries(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)

    assert hash_file(tmp_path / "f") == blake(data)


@pytest.mark.parametrize("size", [LARGE_FILE, LARGE_FILE + 12_345])
def test_a_large_file_hashed_through_mmap_on_many_threads_has_the_same_digest(
    tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    (tmp_path / "big").write_bytes(data)

    assert hash_file(tmp_path / "big") == blake(data)


# --- directories -------------------------------------------------------------------------


@settings(max_examples=50)
@given(files=trees, data=st.data())
def test_a_directory_digest_does_not_depend_on_file_creation_order(
    files: dict[str, bytes], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(sorted(files)))
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp) / "one" / "d", files, sorted(files))
        write_tree(Path(tmp) / "two" / "d", files, list(shuffled))
        one = Hasher(Path(tmp) / "one", None).hash_path("d")
        two = Hasher(Path(tmp) / "two", None).hash_path("d")

    assert one == two
    assert one.kind == "dir"
    assert one.digest == blake(manifest_bytes(one.files))
    assert {f.path: f.digest for f in one.files} == {rel: blake(b) for rel, b in files.items()}
    assert (one.size, one.nfiles) == (sum(map(len, files.values())), len(files))


@settings(max_examples=50)
@given(files=trees, data=st.data())
def test_changing_one_file_changes_the_digest_and_exactly_one_manifest_entry(
    files: dict[str, bytes], data: st.DataObject
) -> None:
    changed = data.draw(st.sampled_from(sorted(files)))
    content = data.draw(st.binary(max_size=256).filter(lambda b: b != files[changed]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root / "d", files, sorted(files))
        before = Hasher(root, None).hash_path("d")
        (root / "d" / changed).write_bytes(content)
        after = Hasher(root, None).hash_path("d")

    old_entries = {f.path: f for f in before.files}
    new_entries = {f.path: f for f in after.files}
    assert after.digest != before.digest
    assert new_entries.keys() == old_entries.keys()
    assert [p for p in new_entries if new_entries[p] != old_entries[p]] == [changed]
    assert new_entries[changed] == FileEntry(changed, blake(content), len(content))


entries = st.builds(
    FileEntry,
    path=st.text(min_size=1, max_size=20),
    digest=st.text("0123456789abcdef", min_size=64, max_size=64),
    size=st.integers(min_value=0, max_value=2**53),
)


@given(files=st.lists(entries, unique_by=lambda f: f.path, max_size=10))
def test_a_manifest_parses_back_to_its_sorted_entries(files: list[FileEntry]) -> None:
    data = manifest_bytes(files)

    assert parse_manifest(data) == tuple(sorted(files, key=lambda f: f.path))
    assert data.isascii()
    assert manifest_bytes(reversed(files)) == data


# --- the stat cache ----------------------------------------------------------------------


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path that ``hash_file`` reads, in order."""
    calls: list[Path] = []
    real = hashing.hash_file

    def counting(path: Path | str, size: int | None = None) -> str:
        calls.append(Path(path))
        return real(path, size)

    monkeypatch.setattr(hashing, "hash_file", counting)
    return calls


def age(path: Path, seconds: int = 60) -> None:
    """Make the file look last modified ``seconds`` ago, well outside the racy window."""
    old = path.stat().st_mtime_ns - seconds * SECOND
    os.utime(path, ns=(old, old))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    files = {"data/a.csv": b"a" * 10, "data/b.csv": b"bb", "model.bin": b"m"}
    write_tree(root, files, list(files))
    for rel in files:
        age(root / rel)
    return root


def passes(root: Path, cache: StatCache) -> Callable[[str], hashing.Hashed]:
    def hash_once(rel: str) -> hashing.Hashed:
        hashed = Hasher(root, cache).hash_path(rel)
        cache.flush()
        return hashed

    return hash_once


def test_an_unchanged_file_is_not_read_again(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    hash_once = passes(project, StatCache(tmp_path / "stat.db"))
    first = hash_once("model.bin")
    second = hash_once("model.bin")

    assert second == first
    assert hash_calls == [project / "model.bin"]


def test_an_unchanged_directory_is_not_read_again(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    hash_once = passes(project, StatCache(tmp_path / "stat.db"))
    first = hash_once("data")
    hash_calls.clear()

    assert hash_once("data") == first
    assert hash_calls == []


def test_a_file_rewritten_with_another_size_and_the_same_mtime_is_hashed_again(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    hash_once = passes(project, StatCache(tmp_path / "stat.db"))
    first = hash_once("data")
    target = project / "data" / "b.csv"
    mtime = target.stat().st_mtime_ns
    target.write_bytes(b"bbb")
    os.utime(target, ns=(mtime, mtime))
    hash_calls.clear()

    second = hash_once("data")

    assert hash_calls == [target]
    assert second.digest != first.digest
    assert FileEntry("b.csv", blake(b"bbb"), 3) in second.files


def test_a_file_replaced_by_another_inode_with_the_same_size_and_mtime_is_hashed_again(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    hash_once = passes(project, StatCache(tmp_path / "stat.db"))
    hash_once("model.bin")
    target = project / "model.bin"
    mtime = target.stat().st_mtime_ns
    replacement = project / "replacement"
    replacement.write_bytes(b"M")
    os.utime(replacement, ns=(mtime, mtime))
    os.replace(replacement, target)
    hash_calls.clear()

    assert hash_once("model.bin").digest == blake(b"M")
    assert hash_calls == [target]


def test_a_file_modified_just_before_hashing_is_racy_and_hashed_again(
    tmp_path: Path, hash_calls: list[Path]
) -> None:
    root = tmp_path / "project"
    write_tree(root, {"fresh.txt": b"written just now"}, ["fresh.txt"])
    hash_once = passes(root, StatCache(tmp_path / "stat.db"))

    hash_once("fresh.txt")
    hash_once("fresh.txt")

    assert hash_calls == [root / "fresh.txt"] * 2


class Clock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def time_ns(self) -> int:
        return self.now_ns


@pytest.mark.parametrize(
    ("hashed_after_ns", "reads"),
    [(RACY_WINDOW_NS - 1, 2), (RACY_WINDOW_NS, 1), (0, 2)],
    ids=["inside-window", "at-window-edge", "same-tick"],
)
def test_an_entry_is_trusted_only_when_hashed_a_full_window_after_the_last_write(
    tmp_path: Path,
    hash_calls: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    hashed_after_ns: int,
    reads: int,
) -> None:
    root = tmp_path / "project"
    write_tree(root, {"f.txt": b"content"}, ["f.txt"])
    mtime = (root / "f.txt").stat().st_mtime_ns
    monkeypatch.setattr(hashing, "time", Clock(mtime + hashed_after_ns))
    hash_once = passes(root, StatCache(tmp_path / "stat.db"))

    hash_once("f.txt")
    hash_once("f.txt")

    assert len(hash_calls) == reads


def test_the_cache_survives_a_new_stat_cache_object(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    first = passes(project, StatCache(tmp_path / "stat.db"))("data")
    hash_calls.clear()

    second = passes(project, StatCache(tmp_path / "stat.db"))("data")

    assert second == first
    assert hash_calls == []


def test_entries_not_flushed_are_not_remembered(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    Hasher(project, StatCache(tmp_path / "stat.db")).hash_path("model.bin")

    Hasher(project, StatCache(tmp_path / "stat.db")).hash_path("model.bin")

    assert hash_calls == [project / "model.bin"] * 2


def test_a_cache_that_cannot_be_written_only_costs_a_rehash(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cache = StatCache(blocker / "stat.db")

    assert Hasher(project, cache).hash_path("model.bin").digest == blake(b"m")
    cache.flush()
    assert Hasher(project, cache).hash_path("model.bin").digest == blake(b"m")


def test_a_damaged_cache_file_is_ignored(project: Path, tmp_path: Path) -> None:
    (tmp_path / "stat.db").write_bytes(b"this is not an sqlite database" * 100)

    hash_once = passes(project, StatCache(tmp_path / "stat.db"))

    assert hash_once("model.bin").digest == blake(b"m")


def test_a_missing_path_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Hasher(tmp_path, None).hash_path("nope")


def test_a_directory_answered_from_its_signature_still_sees_an_in_place_edit(
    project: Path, tmp_path: Path, hash_calls: list[Path]
) -> None:
    cache = StatCache(tmp_path / "stat.db")
    hash_once = passes(project, cache)
    first = hash_once("data")
    assert hash_once("data") == first  # answered from the directory signature
    edited = project / "data/a.csv"
    edited.write_bytes(b"z" * 10)  # same size, new content
    age(edited, seconds=30)  # a different mtime, old enough not to be racy
    hash_calls.clear()

    changed = hash_once("data")

    assert changed.digest != first.digest
    assert hash_calls == [edited]  # only the edited file is read
    assert hash_once("data") == changed


def test_a_directory_is_listed_file_by_file_only_when_asked(project: Path, tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "stat.db")
    passes(project, cache)("data")
    passes(project, cache)("data")

    quick = Hasher(project, cache).hash_path("data")
    full = Hasher(project, cache).hash_path("data", with_files=True)

    assert quick == full
    assert quick.files == ()
    assert [f.path for f in full.files] == ["a.csv", "b.csv"]
    assert hashing.hash_bytes(full.manifest_bytes()) == full.digest
