"""SQL implementation of :class:`~conveyor.store.base.ModelRepository`."""

from __future__ import annotations

from sqlalchemy import select

from conveyor.errors import NotFoundError
from conveyor.store.engine import SessionScope
from conveyor.store.entities import LoggedModel, RunArtifact
from conveyor.store.tables import LoggedModelRow, RunArtifactRow


class SqlModelRepository:
    """Logged artifacts and models in ``run_artifacts`` and ``logged_models``."""

    def __init__(self, session: SessionScope) -> None:
        self._session = session

    def add_artifact(self, artifact: RunArtifact) -> None:
        with self._session() as s:
            s.add(RunArtifactRow(**vars(artifact)))

    def artifacts_of(self, run_id: str) -> list[RunArtifact]:
        with self._session() as s:
            rows = s.scalars(
                select(RunArtifactRow)
                .where(RunArtifactRow.run_id == run_id)
                .order_by(RunArtifactRow.id)
            )
            return [
                RunArtifact(r.run_id, r.path, r.digest, r.kind, r.size, r.created_at, r.stage)
                for r in rows
            ]

    def add_model(self, model: LoggedModel) -> None:
        with self._session() as s:
            s.add(LoggedModelRow(**vars(model)))

    def models_of(self, run_id: str) -> list[LoggedModel]:
        with self._session() as s:
            rows = s.scalars(
                select(LoggedModelRow)
                .where(LoggedModelRow.run_id == run_id)
                .order_by(LoggedModelRow.created_at)
            )
            return [_entity(row) for row in rows]

    def model_of(self, run_id: str, name: str | None = None) -> LoggedModel:
        models = self.models_of(run_id)
        if name is not None:
            models = [m for m in models if m.name == name]
        if len(models) == 1:
            return models[0]
        names = ", ".join(m.name for m in self.models_of(run_id)) or "none"
        if not models:
            wanted = f"model named {name!r}" if name else "model"
            raise NotFoundError(f"run {run_id} has no {wanted}", hint=f"its models: {names}")
        raise NotFoundError(
            f"run {run_id} has several models", hint=f"name one: runs:/{run_id}/<{names}>"
        )

    def get_model(self, model_id: str) -> LoggedModel:
        with self._session() as s:
            row = s.get(LoggedModelRow, model_id)
            if row is None:
                raise NotFoundError(f"no logged model with id {model_id!r}")
            return _entity(row)


def _entity(row: LoggedModelRow) -> LoggedModel:
    return LoggedModel(
        id=row.id,
        run_id=row.run_id,
        name=row.name,
        flavor=row.flavor,
        digest=row.digest,
        info=dict(row.info),
        created_at=row.created_at,
        stage=row.stage,
    )
