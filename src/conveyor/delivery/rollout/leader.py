"""Leadership: exactly one active rollout controller per model, across processes and hosts.

A controller leads a model while it holds that model's lock, and only the leader changes
the model's traffic. The lock is the database's own where it has one, so every gateway
replica and every ``conveyor rollout run`` competes for the same thing:

- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection kept open for as
  long as the lead is held. A controller that dies (``kill -9``, a lost host) drops its
  connection and PostgreSQL releases the lock; nothing to expire, no clock to trust.
- SQLite: an exclusive ``fcntl.flock`` on ``rollout-<model>.lock`` beside the database file
  (``.conveyor/`` by default). The kernel releases it when the process dies. SQLite serves
  one host only, so a host-local lock is enough.

Taking a lock never blocks: a controller that cannot lead a model skips it and tries again
on its next pass, so a standby takes over within one poll of the leader's death.
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

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from conveyor.store import Store


def lock_key(model: str) -> int:
    """A stable 63-bit advisory lock key for ``model``'s rollouts."""
    digest = hashlib.blake2b(f"conveyor-rollout\0{model}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


class Leadership:
    """The models this controller leads; :meth:`try_lead` to take one, :meth:`close` to
    give every one back."""

    def __init__(self, store: Store) -> None:
        self._store = store
        url = make_url(store.url)
        self._postgres = url.get_backend_name() == "postgresql"
        database = url.database or ""
        self._lock_dir = Path(database).resolve().parent if not self._postgres else None
        self._held: dict[str, Any] = {}  # model -> its connection (PostgreSQL) or fd (SQLite)
        self._guard = threading.Lock()

    def try_lead(self, model: str) -> bool:
        """True if this controller leads ``model`` now (already, or from this call on)."""
        with self._guard:
            if model in self._held:
                return True
            held = self._take_pg(model) if self._postgres else self._take_file(model)
            if held is None:
                return False
            self._held[model] = held
            return True

    def leads(self) -> set[str]:
        """The models led now."""
        with self._guard:
            return set(self._held)

    def release(self, model: str) -> None:
        """Stop leading ``model`` (a no-op if not leading it)."""
        with self._guard:
            held = self._held.pop(model, None)
        if held is not None:
            self._give_back(model, held)

    def close(self) -> None:
        """Stop leading every model."""
        for model in self.leads():
            self.release(model)

    def _take_pg(self, model: str) -> Connection | None:
        conn = self._store.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(model)})
            if got.scalar():
                conn.commit()  # end the implicit transaction; the session lock stays held
                return conn
        except Exception:
            conn.close()
            raise
        conn.close()
        return None

    def _take_file(self, model: str) -> int | None:
        assert self._lock_dir is not None
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        path = self._lock_dir / f"rollout-{hashlib.sha1(model.encode()).hexdigest()[:16]}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {model}\n".encode())  # who leads, for a curious human
        return fd

    def _give_back(self, model: str, held: Any) -> None:
        if self._postgres:
            try:
                held.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(model)})
                held.commit()
            finally:
                held.close()
        else:
            os.close(held)  # closing the descriptor releases the flock
