"""The metadata store: one object with a repository per concept.

``open_store(url)`` picks the backend by URL scheme (SQLite or PostgreSQL today), applies
migrations on first use, and returns a :class:`Store`. Rows never leave it: repositories
return the frozen entities of :mod:`conveyor.store.entities`.

This package's ``__init__`` imports nothing heavy: importing SQLAlchemy costs ~0.4 s, which
the commands that answer from the lock file alone (``status``, a no-op ``run``) never pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from conveyor.store.base import (
        AlertRepository,
        DeploymentRepository,
        ModelRepository,
        RegistryRepository,
        RolloutRepository,
        RunRepository,
        SignalRepository,
        StageCacheRepository,
    )


@dataclass(frozen=True)
class Store:
    """Everything Conveyor keeps in its metadata database."""

    url: str
    engine: Engine
    runs: RunRepository
    stage_cache: StageCacheRepository
    models: ModelRepository
    registry: RegistryRepository
    deployments: DeploymentRepository
    signals: SignalRepository
    rollouts: RolloutRepository
    alerts: AlertRepository

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Open (and migrate, the first time) the metadata store at ``url``."""
    from conveyor.store.alerts import SqlAlertRepository
    from conveyor.store.deployments import SqlDeploymentRepository
    from conveyor.store.engine import SessionScope, make_engine, translate_errors
    from conveyor.store.migrate import upgrade
    from conveyor.store.models import SqlModelRepository
    from conveyor.store.registry import SqlRegistryRepository
    from conveyor.store.rollouts import SqlRolloutRepository
    from conveyor.store.runs import SqlRunRepository
    from conveyor.store.signals import SqlSignalRepository
    from conveyor.store.stage_cache import SqlStageCache

    engine = make_engine(url)
    with translate_errors(url):
        upgrade(engine)
    scope = SessionScope(engine, url)
    return Store(
        url,
        engine,
        SqlRunRepository(scope),
        SqlStageCache(scope),
        SqlModelRepository(scope),
        SqlRegistryRepository(scope),
        SqlDeploymentRepository(scope),
        SqlSignalRepository(scope),
        SqlRolloutRepository(scope),
        SqlAlertRepository(scope),
    )


__all__ = ["Store", "open_store"]
