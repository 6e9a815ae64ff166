"""Settings from the environment, read once into a frozen object and passed down.

This is the only module that reads or writes ``os.environ`` (a test checks it): everything
else gets a :class:`Settings`, or one of the small functions at the end of this module.

- ``CONVEYOR_DB_URL``: the metadata database, as a SQLAlchemy URL
  (default: ``sqlite:///<project>/.conveyor/conveyor.db``).
- ``CONVEYOR_ARTIFACTS``: the artifact store, a directory or fsspec URL
  (default: ``<project>/.conveyor/store``).
- ``CONVEYOR_JOBS``: stages ``conveyor run`` runs at once (default: number of cores).
- ``CONVEYOR_USER``: who is recorded on runs (default: git ``user.email``, else the login).
- ``CONVEYOR_TRIGGER``: why a run started: ``manual``, ``ci``, ``schedule``
  (default: ``ci`` when ``CI`` is set, else ``manual``).

Set by ``conveyor run`` for each stage's command (see :func:`stage_environment`):
``CONVEYOR_RUN_ID``, ``CONVEYOR_STAGE`` and ``CONVEYOR_PROJECT_ROOT``, so that the SDK and
Conveyor's own commands inside a stage record on the stage's run.

Set by ``conveyor serve --workers N`` and bundles for their uvicorn workers (see
:func:`export` and :func:`variable`): ``CONVEYOR_SERVE_*``, ``CONVEYOR_BUNDLE_DIR`` and
``PROMETHEUS_MULTIPROC_DIR``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

RUN_ID_VAR = "CONVEYOR_RUN_ID"
STAGE_VAR = "CONVEYOR_STAGE"
PROJECT_ROOT_VAR = "CONVEYOR_PROJECT_ROOT"
DB_URL_VAR = "CONVEYOR_DB_URL"
ARTIFACTS_VAR = "CONVEYOR_ARTIFACTS"


@dataclass(frozen=True)
class Settings:
    """Everything Conveyor reads from the environment."""

    db_url: str | None = None
    artifacts_url: str | None = None
    jobs: int | None = None
    user: str | None = None
    trigger: str = "manual"
    run_id: str | None = None  # inside a stage of `conveyor run`: its run ...
    stage: str | None = None  # ... its stage ...
    project_root: str | None = None  # ... and its project

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
            db_url=env.get(DB_URL_VAR) or None,
            artifacts_url=env.get(ARTIFACTS_VAR) or None,
            jobs=int(jobs) if jobs else None,
            user=env.get("CONVEYOR_USER") or None,
            trigger=env.get("CONVEYOR_TRIGGER") or ("ci" if env.get("CI") else "manual"),
            run_id=env.get(RUN_ID_VAR) or None,
            stage=env.get(STAGE_VAR) or None,
            project_root=env.get(PROJECT_ROOT_VAR) or None,
        )

    def database_url(self, state_dir: Path) -> str:
        """The metadata database URL for a project whose state lives in ``state_dir``."""
        return self.db_url or f"sqlite:///{state_dir / 'conveyor.db'}"

    def artifacts_location(self, state_dir: Path) -> str:
        """The artifact store URL for a project whose state lives in ``state_dir``."""
        return self.artifacts_url or str(state_dir / "store")


def stage_environment(
    run_id: str, db_url: str, artifacts_url: str, project_root: Path
) -> dict[str, str]:
    """The environment of a stage's command: this process's, plus where to record."""
    return {
        **os.environ,
        RUN_ID_VAR: run_id,
        DB_URL_VAR: db_url,
        ARTIFACTS_VAR: artifacts_url,
        PROJECT_ROOT_VAR: str(project_root),
    }


def environment() -> dict[str, str]:
    """A copy of this process's environment (a bundle's ``serve.py`` reads HOST, PORT, ...)."""
    return dict(os.environ)


def variable(name: str) -> str | None:
    """One variable a parent process set for this one (a uvicorn worker's options); None
    when unset or empty."""
    return os.environ.get(name) or None


def export(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """Set variables for the processes this one starts (None removes one); returns the
    values they had, for :func:`export` to put back."""
    previous = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return previous
