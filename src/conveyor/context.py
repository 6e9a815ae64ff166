"""Who acts, and against which stores: the :class:`Context` every service takes.

Each entry point builds one context at its edge and passes it down: the CLI
(:func:`conveyor.cli.context.command_context`), ``conveyor serve``'s startup and its workers,
and the SDK on its first call (:mod:`conveyor.tracking`). Services never read the
environment or open a store themselves; tests build a context directly::

    ctx = Context(Settings(db_url="sqlite:///x.db"), root=None, base=tmp_path)
    Registry(ctx).promote("churn", 3)

or hand it a store that is already open: ``Context(settings, root, store=store)``.

Building a context has no side effect: the stores are opened on first use (and cached), and
``.conveyor/`` is created only when something is written there (the default SQLite
database, the default artifact store). Importing this module is light (no SQLAlchemy, no
pydantic), for the CLI's fast path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from conveyor.settings import Settings

if TYPE_CHECKING:
    from conveyor.artifacts import ArtifactStore
    from conveyor.store import Store

STATE_DIR = ".conveyor"

Established = Literal["env", "git", "os", "token", "none"]


@dataclass(frozen=True)
class Principal:
    """Who acts: a name, and how it was established.

    ``env``: ``CONVEYOR_USER``; ``git``: git's ``user.email``; ``os``: the login name;
    ``token``: an API token (planned); ``none``: nobody could be named (``name`` is None).
    Roles and approvals will attach here.
    """

    name: str | None
    established_by: Established

    def __str__(self) -> str:
        return self.name or "unknown"


def resolve_principal(settings: Settings, directory: Path | None) -> Principal:
    """The one place that decides who acts: ``CONVEYOR_USER``, else git's ``user.email`` in
    ``directory``, else the operating-system login."""
    if settings.user:
        return Principal(settings.user, "env")
    from conveyor.gitinfo import git_user, login

    if directory is not None:
        email = git_user(directory)
        if email:
            return Principal(email, "git")
    name = login()
    return Principal(name, "os") if name else Principal(None, "none")


class Context:
    """Settings, the project root (when there is one), the acting principal, and the
    metadata and artifact stores, opened on first use.

    ``base`` is where ``.conveyor/`` lives: the project root, else the working directory
    (a script outside any project keeps its runs beside itself).
    """

    def __init__(
        self,
        settings: Settings,
        root: Path | None,
        *,
        base: Path | None = None,
        principal: Principal | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.root = root
        self.base = base or root or Path.cwd()
        self._principal = principal
        self._store: Store | None = store  # given: already open (a test, a shared process)
        self._artifacts: ArtifactStore | None = None
        self._lock = threading.Lock()  # the SDK may log from several threads

    @classmethod
    def resolve(cls, settings: Settings | None = None, start: Path | None = None) -> Context:
        """The context around ``start`` (default: the working directory): the stage's
        project inside ``conveyor run``, else the project above it, else none."""
        from conveyor.errors import ProjectNotFound
        from conveyor.project import find_root

        settings = settings or Settings.from_env()
        root: Path | None
        if settings.project_root:
            root = Path(settings.project_root)
        else:
            try:
                root = find_root(start)
            except ProjectNotFound:
                root = None
        return cls(settings, root, base=root or start)

    @property
    def state_dir(self) -> Path:
        """``.conveyor/`` of the project (or of the working directory); maybe not there yet."""
        return self.base / STATE_DIR

    @property
    def db_url(self) -> str:
        """The metadata database's URL."""
        return self.settings.database_url(self.state_dir)

    @property
    def artifacts_url(self) -> str:
        """The artifact store's URL."""
        return self.settings.artifacts_location(self.state_dir)

    @property
    def model_cache(self) -> Path:
        """Where model directories are unpacked for loading (verified on the way in)."""
        return self.state_dir / "models"

    @property
    def principal(self) -> Principal:
        """Who acts (asked of git once, on first use)."""
        if self._principal is None:
            self._principal = resolve_principal(self.settings, self.base)
        return self._principal

    @property
    def store(self) -> Store:
        """The metadata store, opened (and migrated) on first use."""
        with self._lock:
            if self._store is None:
                from conveyor.store import open_store

                if self.settings.db_url is None:  # the default SQLite file goes in .conveyor/
                    self.state_dir.mkdir(parents=True, exist_ok=True)
                self._store = open_store(self.db_url)
            return self._store

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use."""
        with self._lock:
            if self._artifacts is None:
                from conveyor.artifacts import ArtifactStore

                self._artifacts = ArtifactStore(self.artifacts_url)
            return self._artifacts

    def close(self) -> None:
        """Release the database connections (the context may be used again: it reopens)."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def __repr__(self) -> str:
        return f"Context(root={self.root}, base={self.base}, db_url={self.db_url!r})"
