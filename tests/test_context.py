"""The context: built without side effects, stores opened on first use, one principal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conveyor.context import Context, Principal, resolve_principal
from conveyor.settings import Settings


def test_resolving_a_context_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "conveyor.yaml").write_text("stages: {}\n")
    ctx = Context.resolve(Settings(), start=tmp_path)
    assert ctx.root == tmp_path
    assert ctx.db_url == f"sqlite:///{tmp_path / '.conveyor' / 'conveyor.db'}"
    assert not (tmp_path / ".conveyor").exists()
    ctx.store.runs.find(limit=1)  # the default database is made where it belongs, on use
    assert (tmp_path / ".conveyor" / "conveyor.db").is_file()
    ctx.close()


def test_a_named_database_outside_a_project_leaves_the_directory_alone(tmp_path: Path) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'elsewhere.db'}")
    work = tmp_path / "work"
    work.mkdir()
    ctx = Context.resolve(settings, start=work)
    assert ctx.root is None
    assert ctx.base == work
    assert ctx.store.registry.list_models() == []
    ctx.close()
    assert list(work.iterdir()) == []


def test_the_store_is_opened_once_and_reopened_after_close(tmp_path: Path) -> None:
    ctx = Context(Settings(db_url=f"sqlite:///{tmp_path / 'x.db'}"), None, base=tmp_path)
    first = ctx.store
    assert ctx.store is first
    ctx.close()
    assert ctx.store is not first
    ctx.close()


def test_the_stage_project_root_wins_over_the_working_directory(tmp_path: Path) -> None:
    ctx = Context.resolve(Settings(project_root=str(tmp_path / "p")), start=tmp_path)
    assert ctx.root == tmp_path / "p"


def test_principal_from_the_environment_first(tmp_path: Path) -> None:
    assert resolve_principal(Settings(user="ana@example.com"), tmp_path) == Principal(
        "ana@example.com", "env"
    )


def test_principal_from_git_then_the_login(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "config", "user.email", "bo@example.com"], check=True
    )
    assert resolve_principal(Settings(), tmp_path) == Principal("bo@example.com", "git")
    outside = resolve_principal(Settings(), None)
    assert outside.established_by in ("os", "none")
    assert str(outside) == (outside.name or "unknown")


def test_principal_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Principal("a", "env").name = "b"  # type: ignore[misc]
