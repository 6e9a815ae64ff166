"""What runs record about git: commit, branch and dirty flag, from one git call."""

from __future__ import annotations

import subprocess

from conveyor.gitinfo import GitInfo, git_info, recent_git_info


def git(root, *args):
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_outside_git_everything_is_unknown(tmp_path):
    info = git_info(tmp_path)
    assert (info.commit, info.branch, info.dirty) == (None, None, None)


def test_commit_branch_and_dirty_flag(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    assert git_info(tmp_path).commit is None  # no commit yet
    git(tmp_path, "commit", "-qm", "one")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()

    clean = git_info(tmp_path)
    (tmp_path / "untracked.txt").write_text("ignored for the dirty flag")
    still_clean = git_info(tmp_path)
    (tmp_path / "a.txt").write_text("2")
    dirty = git_info(tmp_path)

    assert clean == GitInfo(commit=head, branch="main", dirty=False, user=clean.user)
    assert still_clean.dirty is False
    assert dirty.dirty is True


def test_a_detached_head_has_no_branch(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-qm", "one")
    git(tmp_path, "checkout", "-q", "--detach")

    assert git_info(tmp_path).branch is None


def test_recent_answers_are_reused_briefly(tmp_path):
    first = recent_git_info(tmp_path, max_age_s=60)
    git(tmp_path, "init", "-q")
    assert recent_git_info(tmp_path, max_age_s=60) is first
    assert recent_git_info(tmp_path, max_age_s=0).commit is None
