"""Keeping declared outs out of git, as DVC does.

Each out gets a line ``/NAME`` in a ``.gitignore`` in the out's own directory (not one
list in the project's ``.gitignore``): like DVC, so that moving or deleting a directory
takes its rules along, and each rule is anchored to exactly one path. Lines already there
are not repeated; an out git already tracks is not ignored (that would hide its changes
from ``git status``) but warned about. ``gitignore_outs: false`` in ``conveyor.yaml`` turns
this off.
"""

from __future__ import annotations

import posixpath
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path


def ignore_outs(root: Path, outs: Iterable[str], warn: Callable[[str], None]) -> list[str]:
    """Add every out not yet ignored to the ``.gitignore`` beside it; the outs added."""
    missing = [out for out in outs if _rule(out) not in _lines(root / _gitignore(out))]
    if not missing or not _in_git(root):
        return []
    tracked = _tracked(root, missing)
    for out in tracked:
        warn(
            f"out {out!r} is tracked by git, so it was not added to .gitignore; "
            f"to keep it out of git: git rm --cached -r {out}"
        )
    added = [out for out in missing if out not in tracked]
    for out in added:
        path = root / _gitignore(out)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + _rule(out) + "\n", encoding="utf-8")
    return added


def _gitignore(out: str) -> str:
    return posixpath.join(posixpath.dirname(out), ".gitignore")


def _rule(out: str) -> str:
    return "/" + posixpath.basename(out)


def _lines(path: Path) -> set[str]:
    try:
        return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    except FileNotFoundError:
        return set()


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _in_git(root: Path) -> bool:
    done = _git(root, "rev-parse", "--is-inside-work-tree")
    return done is not None and done.stdout.strip() == "true"


def _tracked(root: Path, outs: list[str]) -> set[str]:
    done = _git(root, "ls-files", "-z", "--", *outs)
    files = done.stdout.split("\0") if done and done.returncode == 0 else []
    return {out for out in outs for f in files if f == out or f.startswith(out + "/")}
