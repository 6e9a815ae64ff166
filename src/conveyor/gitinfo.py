"""What git says about the project: commit, branch, dirty flag, and files at a revision."""

from __future__ import annotations

import subprocess
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
    """Commit, branch and dirty flag of the work tree at ``root``."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return GitInfo(user=_git(root, "config", "user.email"))
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return GitInfo(
        commit=commit,
        branch=None if branch == "HEAD" else branch,
        dirty=bool(status) if status is not None else None,
        user=_git(root, "config", "user.email"),
    )


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
