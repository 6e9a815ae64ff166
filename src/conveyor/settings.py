"""Settings from the environment, read once into a frozen object and passed down.

- ``CONVEYOR_DB_URL``: the metadata database, as a SQLAlchemy URL
  (default: ``sqlite:///<project>/.conveyor/conveyor.db``).
- ``CONVEYOR_ARTIFACTS``: the artifact store, a directory or fsspec URL
  (default: ``<project>/.conveyor/store``).
- ``CONVEYOR_JOBS``: stages ``conveyor run`` runs at once (default: number of cores).
- ``CONVEYOR_USER``: who is recorded on runs (default: git ``user.email``, else the login).
- ``CONVEYOR_TRIGGER``: why a run started: ``manual``, ``ci``, ``schedule``
  (default: ``ci`` when ``CI`` is set, else ``manual``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything Conveyor reads from the environment."""

    db_url: str | None = None
    artifacts_url: str | None = None
    jobs: int | None = None
    user: str | None = None
    trigger: str = "manual"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: this process's environment)."""
        env = os.environ if environ is None else environ
        jobs = env.get("CONVEYOR_JOBS") or None
        if jobs is not None and not (jobs.isdigit() and int(jobs) > 0):
            from conveyor.errors import ConfigError

            raise ConfigError(
                f"CONVEYOR_JOBS={jobs!r} is not a positive whole number",
                hint="set it to how many stages may run at once, e.g. CONVEYOR_JOBS=4",
            )
        return cls(
            db_url=env.get("CONVEYOR_DB_URL") or None,
            artifacts_url=env.get("CONVEYOR_ARTIFACTS") or None,
            jobs=int(jobs) if jobs else None,
            user=env.get("CONVEYOR_USER") or None,
            trigger=env.get("CONVEYOR_TRIGGER") or ("ci" if env.get("CI") else "manual"),
        )

    def database_url(self, state_dir: Path) -> str:
        """The metadata database URL for a project whose state lives in ``state_dir``."""
        return self.db_url or f"sqlite:///{state_dir / 'conveyor.db'}"

    def artifacts_location(self, state_dir: Path) -> str:
        """The artifact store URL for a project whose state lives in ``state_dir``."""
        return self.artifacts_url or str(state_dir / "store")
