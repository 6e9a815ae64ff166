"""Leadership: exactly one active holder of a named lead, across processes and hosts.

The rollout controller leads each model it drives (scope ``rollout``, one lead per model);
the monitor loop leads the alert rules (scope ``monitor``, one lead). Only a leader acts.
The lock is the database's own where it has one, so every gateway replica, every
``conveyor rollout run`` and every ``conveyor monitor run`` competes for the same thing:

- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection kept open for as
  long as the lead is held. A holder that dies (``kill -9``, a lost host) drops its
  connection and PostgreSQL releases the lock; nothing to expire, no clock to trust. A
  held connection is checked on every :meth:`Leadership.try_lead`: when the server lost it
  (an outage, a restart) the lock is gone too, so the lead is given up and taken afresh.
- SQLite: an exclusive ``fcntl.flock`` on ``<scope>-<hash>.lock`` beside the database file
  (``.conveyor/`` by default). The kernel releases it when the process dies. SQLite serves
  one host only, so a host-local lock is enough.

Taking a lock never blocks: a process that cannot lead skips the work and tries again on
its next pass, so a standby takes over within one poll of the leader's death. Database
errors become :class:`~conveyor.errors.StoreError`, so a caller's loop treats an
unreachable database like any other store outage.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from conveyor.store.engine import translate_errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from conveyor.store import Store


def lock_key(name: str, scope: str = "rollout") -> int:
    """A stable 63-bit advisory lock key for the lead ``name`` of ``scope``."""
    digest = hashlib.blake2b(f"conveyor-{scope}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


class Leadership:
    """The leads of ``scope`` this process holds; :meth:`try_lead` to take one,
    :meth:`close` to give every one back.

    >>> leadership = Leadership(store, scope="monitor")  # doctest: +SKIP
    >>> leadership.try_lead("alerts")  # True in exactly one process at a time  # doctest: +SKIP
    """

    def __init__(self, store: Store, scope: str = "rollout") -> None:
        self._store = store
        self.scope = scope
        url = make_url(store.url)
        self._postgres = url.get_backend_name() == "postgresql"
        database = url.database or ""
        self._lock_dir = Path(database).resolve().parent if not self._postgres else None
        self._held: dict[str, Any] = {}  # name -> its connection (PostgreSQL) or fd (SQLite)
        self._guard = threading.Lock()

    def try_lead(self, name: str) -> bool:
        """True if this process leads ``name`` now (already, or from this call on)."""
        with self._guard:
            if name in self._held and self._still_held(name):
                return True
            with translate_errors(self._store.url):
                held = self._take_pg(name) if self._postgres else self._take_file(name)
            if held is None:
                return False
            self._held[name] = held
            return True

    def leads(self) -> set[str]:
        """The names led now."""
        with self._guard:
            return set(self._held)

    def release(self, name: str) -> None:
        """Stop leading ``name`` (a no-op if not leading it)."""
        with self._guard:
            held = self._held.pop(name, None)
        if held is not None:
            self._give_back(name, held)

    def close(self) -> None:
        """Stop leading every name."""
        for name in self.leads():
            self.release(name)

    def _still_held(self, name: str) -> bool:
        """Whether the held lock is alive: a file lock always is; a PostgreSQL session lock
        as long as its connection is (a lost connection lost the lock with it)."""
        if not self._postgres:
            return True
        conn = self._held[name]
        try:
            conn.execute(text("SELECT 1"))
            conn.commit()
            return True
        except Exception:
            del self._held[name]
            try:
                conn.invalidate()
            finally:
                conn.close()
            return False

    def _take_pg(self, name: str) -> Connection | None:
        conn = self._store.engine.connect()
        try:
            key = lock_key(name, self.scope)
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            if got.scalar():
                conn.commit()  # end the implicit transaction; the session lock stays held
                return conn
        except Exception:
            conn.close()
            raise
        conn.close()
        return None

    def _take_file(self, name: str) -> int | None:
        assert self._lock_dir is not None
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(name.encode()).hexdigest()[:16]
        path = self._lock_dir / f"{self.scope}-{digest}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {name}\n".encode())  # who leads, for a curious human
        return fd

    def _give_back(self, name: str, held: Any) -> None:
        if self._postgres:
            try:
                held.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(name, self.scope)}
                )
                held.commit()
            except Exception:  # the connection is gone: so is its lock
                pass
            finally:
                held.close()
        else:
            os.close(held)  # closing the descriptor releases the flock
