"""The Alembic migrations build exactly the schema that the ORM tables declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conveyor.store import open_store
from conveyor.store.migrate import HEAD, current_revision
from conveyor.store.tables import Base


def test_migrations_produce_exactly_the_orm_schema(store_url: str) -> None:
    store = open_store(store_url)
    try:
        with store.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        store.close()

    assert differences == []


def test_a_migrated_database_is_at_head(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert current_revision(store.engine) == HEAD
    finally:
        store.close()


def test_head_is_the_newest_migration_script() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from conveyor.store.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]
