"""SQL implementation of the run cache."""

from __future__ import annotations

from sqlalchemy import select

from conveyor.store.engine import SessionScope
from conveyor.store.entities import CacheEntry
from conveyor.store.tables import StageCacheRow


class SqlStageCache:
    """Run-cache entries in the ``stage_cache`` table."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def get(self, key: str) -> CacheEntry | None:
        with self._session() as s:
            row = s.scalar(select(StageCacheRow).where(StageCacheRow.key == key))
            if row is None:
                return None
            return CacheEntry(row.key, row.stage, dict(row.outs), row.run_id, row.created_at)

    def put(self, entry: CacheEntry) -> None:
        with self._session() as s:
            s.merge(
                StageCacheRow(
                    key=entry.key,
                    stage=entry.stage,
                    outs=entry.outs,
                    run_id=entry.run_id,
                    created_at=entry.created_at,
                )
            )
