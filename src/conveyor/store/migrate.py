"""Alembic migrations, applied automatically the first time a database is opened.

Many processes may open a fresh database at once (eight stages of one run, a team's
first jobs): the upgrade is serialized by a lock the database holds for the migration's
transaction, so one process migrates and the others then find the database at head.
On PostgreSQL that is a transaction-scoped advisory lock; on SQLite, the write lock that
``BEGIN IMMEDIATE`` (see ``engine.py``) takes on the database file before Alembic reads
the current revision.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

HEAD = "0009"
# Any fixed 64-bit number, the same in every Conveyor process: "conveyor" in ASCII.
MIGRATION_LOCK = int.from_bytes(b"conveyor", "big") & 0x7FFF_FFFF_FFFF_FFFF
MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the database to :data:`HEAD`; a no-op (one query) when it is there already."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # held until this transaction ends; Alembic reads the revision after it
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
