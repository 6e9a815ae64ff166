"""What git says about the project: commit, branch, dirty flag, and files at a revision."""

from __future__ import annotations

import functools
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    """The commit a run started from; all None outside a git repository."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    user: str | None = None


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(root: Path) -> GitInfo:
    """Commit, branch and dirty flag of the work tree at ``root`` (one ``git`` call)."""
    status = _git(root, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return GitInfo(user=git_user(root))
    commit = branch = None
    dirty = False
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ")
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ")
            branch = None if head == "(detached)" else head
        elif not line.startswith("#"):
            dirty = True
    return GitInfo(
        commit=commit, branch=branch, dirty=dirty if commit else None, user=git_user(root)
    )


_RECENT: dict[Path, tuple[float, GitInfo]] = {}


def recent_git_info(root: Path, max_age_s: float = 2.0) -> GitInfo:
    """:func:`git_info`, asked at most once per ``max_age_s`` seconds for one work tree.

    For scripts that open many runs in a loop: each would otherwise wait for a ``git``
    process (about 4 ms). A commit made in the last two seconds may be seen late.
    """
    now = time.monotonic()
    cached = _RECENT.get(root)
    if cached is None or now - cached[0] > max_age_s:
        cached = (now, git_info(root))
        _RECENT[root] = cached
    return cached[1]


@functools.lru_cache(maxsize=16)
def git_user(root: Path) -> str | None:
    """``user.email`` from git's config (asked once per process)."""
    return _git(root, "config", "user.email")


def show_file(root: Path, rev: str, path: str) -> str | None:
    """The text of ``path`` at git revision ``rev``, or None if git has no such file."""
    return _git(root, "show", f"{rev}:{path}")


def resolve_rev(root: Path, rev: str) -> str | None:
    """The full commit id of ``rev``, or None if git does not know it."""
    return _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")


def login() -> str | None:
    """The operating-system login name, when there is one."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
