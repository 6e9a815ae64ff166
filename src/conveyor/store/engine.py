"""Engines, the one session scope, and the one place SQLAlchemy errors become ours."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from conveyor.errors import ConfigError, StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SEARCH_TIMEOUT_S = 30.0
"""How long one search statement may run before the database stops it."""


def normalize_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs; leave every other URL as given."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and immediate transactions."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"CONVEYOR_DB_URL {redact(url)!r} is not a database URL",
            hint="use sqlite:///path/to/file.db or postgresql://user@host:5432/dbname",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
        # every write transaction starts with BEGIN IMMEDIATE: concurrent writers then wait
        # for the lock (busy timeout) instead of failing with "database is locked".
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # not a URL at all: show it, unless something in it could be a password
        return url if "@" not in url and ":" not in url else "<unparseable URL>"


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn any SQLAlchemy error into a :class:`StoreError` that names the database.

    The message carries the driver's one-line reason only: SQLAlchemy's own text holds the
    statement and its bound values (a user's params, tags, paths), and PostgreSQL's DETAIL
    line holds key values. The full error stays the ``__cause__``, for debugging.
    """
    try:
        yield
    except OperationalError as exc:
        if not _unreachable(exc):
            raise _failed(url, exc) from exc
        raise StoreError(
            f"the metadata database {redact(url)} is not reachable or is busy: {reason(exc)}",
            hint="check CONVEYOR_DB_URL and that the database server is running",
        ) from exc
    except SQLAlchemyError as exc:
        raise _failed(url, exc) from exc


def _failed(url: str, exc: SQLAlchemyError) -> StoreError:
    return StoreError(
        f"the metadata database {redact(url)} failed: {reason(exc)}",
        hint="a database changed by hand, or a bug in Conveyor: report the command that failed",
    )


def _unreachable(exc: OperationalError) -> bool:
    """Whether the server could not be reached or the database was busy, as opposed to a
    statement it refused (SQLite reports "no such table" as an OperationalError too)."""
    orig = exc.orig
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return str(name).startswith(_SQLITE_UNREACHABLE)
    state = getattr(orig, "sqlstate", None)  # psycopg: None when no connection was made
    return state is None or str(state).startswith(("08", "53", "57P"))


_SQLITE_UNREACHABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def reason(exc: SQLAlchemyError) -> str:
    """The driver's reason for ``exc``, without the SQL statement or any bound value."""
    orig = getattr(exc, "orig", None)
    if orig is None:  # raised by SQLAlchemy itself, whose message names no values
        return str(exc).split("\n", 1)[0]
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)  # psycopg
    return str(primary or orig).strip().split("\n\n", 1)[0] or type(orig).__name__


class SessionScope:
    """One transaction per ``with``: commit on success, roll back on any error."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._factory = sessionmaker(engine, expire_on_commit=False)
        self._url = url

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        with translate_errors(self._url):
            session = self._factory()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()


@contextmanager
def search_time_limit(session: Session) -> Iterator[None]:
    """Stop each statement of ``session`` that runs past :data:`SEARCH_TIMEOUT_S`.

    A pathological filter must not hold the database for minutes, nor go on after its
    client has gone: PostgreSQL gets ``statement_timeout`` (and, from version 14, checks
    that the client is still connected every second); SQLite a progress handler that
    interrupts the statement at the deadline.
    """
    seconds = SEARCH_TIMEOUT_S
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        _pg_time_limit(conn, seconds)
        cleared = None
    else:
        cleared = _sqlite_time_limit(conn, seconds)
    try:
        yield
    except OperationalError as exc:
        orig = exc.orig
        if getattr(orig, "sqlstate", None) == "57014" or str(orig) == "interrupted":
            raise StoreError(
                f"the search took longer than {seconds:g} s and was stopped",
                hint="search with fewer conditions, or put the most selective one first",
            ) from exc
        raise
    finally:
        if cleared is not None:
            cleared()


def _pg_time_limit(conn: Connection, seconds: float) -> None:
    # SET LOCAL: for this transaction only, so pooled connections come back unchanged
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}")
    if (conn.dialect.server_version_info or (0,)) >= (14,):
        conn.exec_driver_sql("SET LOCAL client_connection_check_interval = 1000")


def _sqlite_time_limit(conn: Connection, seconds: float) -> Any:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    deadline = time.monotonic() + seconds
    # called every 1,000 virtual machine instructions; a true answer interrupts
    raw.set_progress_handler(lambda: time.monotonic() > deadline, 1_000)
    return lambda: raw.set_progress_handler(None, 0)
