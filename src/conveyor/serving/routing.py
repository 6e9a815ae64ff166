"""Applying routing tables: which version answers a request, which shadows get a copy. No I/O.

The tables themselves (weighted routes, shadows with their shares, the sticky key, the
revision, and their validation) are :mod:`conveyor.delivery.tables`; this module is the
gateway's side: the :class:`Router` holds each model's current table and decides per
request. The decision for one request, in order:

1. the ``X-Conveyor-Version`` header forces a version (any route or shadow of the table);
2. a sticky key (a header, or a named input field) picks a version deterministically;
3. otherwise a weighted random draw.

Sticky assignment is weighted rendezvous hashing. For each route ``v`` with weight ``w``::

    u_v   = (BLAKE2b-64("model\\0key\\0v") + 0.5) / 2**64      a point in (0, 1)
    score = -ln(u_v) / w                                        exponential, rate w
    the key goes to the version with the smallest score

The smallest of independent exponentials with rates ``w_v`` is ``v`` with probability
``w_v / sum(w)``, so keys split in proportion to the weights. A version's score depends only
on its own weight: raising one weight moves keys only onto that version, lowering it moves
keys only off it, and a key never moves between two versions whose weights did not change.
(Cumulative intervals over one point would shift every interval after a changed one.)

Shadows: request ``r`` is copied to shadow ``v`` when ``BLAKE2b-64("model\\0r\\0v") / 2**64
< share``, independently per shadow, so the same request id always gets the same answer.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from conveyor.delivery.tables import RoutingTable
from conveyor.errors import ConflictError, InvalidValue, NotFoundError
from conveyor.serving.keys import FORCE_HEADER, header, sticky_key

_SPAN = float(2**64)
_RANDOM = random.Random()


def _unit(*parts: str | int) -> float:
    """A stable point in [0, 1) for ``parts`` (BLAKE2b: the same in every process and run)."""
    text = "\0".join(str(part) for part in parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / _SPAN


def choose(
    table: RoutingTable,
    key: str | None = None,
    forced: int | None = None,
    rng: random.Random | None = None,
) -> int:
    """The version that answers: ``forced`` if given, else sticky by ``key``, else random.

    ``forced`` may be any version of the table, route or shadow (a shadow can be asked for
    by name to try it); another version is a :class:`NotFoundError` naming the table's.

    >>> table = RoutingTable("churn", (Route(3, 90), Route(4, 10)))
    >>> choose(table, "user-42") == choose(table, "user-42")
    True
    """
    if forced is not None:
        if forced not in table.versions():
            known = ", ".join(map(str, table.versions()))
            raise NotFoundError(
                f"version {forced} of {table.model!r} is not in its routing table "
                f"(versions: {known})",
                hint=f"drop the {FORCE_HEADER} header or name one of those versions",
            )
        return forced
    if key is not None:
        return _sticky(table, key)
    return _draw(table, rng or _RANDOM)


def _sticky(table: RoutingTable, key: str) -> int:
    best, best_score = table.routes[0].version, math.inf
    for route in table.routes:
        if route.weight > 0:
            score = -math.log(_unit(table.model, key, route.version) + 0.5 / _SPAN) / route.weight
            if score < best_score:
                best, best_score = route.version, score
    return best


def _draw(table: RoutingTable, rng: random.Random) -> int:
    point = rng.random() * table.total
    chosen = table.routes[0].version
    for route in table.routes:
        if route.weight > 0:
            chosen = route.version
            point -= route.weight
            if point < 0:
                break
    return chosen


def shadows_for(table: RoutingTable, request_id: str) -> list[int]:
    """The shadow versions that get a copy of request ``request_id`` (deterministic)."""
    return [
        shadow.version
        for shadow in table.shadows
        if _unit(table.model, request_id, shadow.version, "shadow") < shadow.share
    ]


class Router:
    """The current routing table of every served model; the gateway asks it per request.

    Tables are swapped atomically: a request sees either the old table or the new one.
    """

    def __init__(self, tables: Iterable[RoutingTable] = (), rng: random.Random | None = None):
        self._tables: dict[str, RoutingTable] = {}
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        for table in tables:
            self.update(table)

    def choose(self, model: str, headers: Mapping[str, str], body: Any) -> int:
        """The version that answers this request (see the module docstring for the order)."""
        table = self.table(model)
        forced = header(headers, FORCE_HEADER)
        if forced is not None:
            return choose(table, forced=_forced_version(model, forced))
        key = sticky_key(table.sticky, headers, body) if table.sticky else None
        return choose(table, key, rng=self._rng)

    def shadows(self, model: str, request_id: str) -> list[int]:
        """The shadow versions that get a copy of this request."""
        return shadows_for(self.table(model), request_id)

    def table(self, model: str) -> RoutingTable:
        """The current table of ``model``; a :class:`NotFoundError` naming the routed models."""
        found = self._tables.get(model)
        if found is None:
            known = ", ".join(sorted(self._tables)) or "none"
            raise NotFoundError(
                f"model {model!r} has no routing table (routed models: {known})",
                hint=f"set one with `conveyor traffic set {model} VERSION=WEIGHT ...`",
            )
        return found

    def update(self, table: RoutingTable) -> None:
        """Replace ``table.model``'s table; a revision older than the current one is refused."""
        with self._lock:
            current = self._tables.get(table.model)
            if current is not None and table.revision < current.revision:
                raise ConflictError(
                    f"routing table of {table.model!r}: revision {table.revision} is older "
                    f"than the one in use ({current.revision})",
                    hint="reload the table from the store and apply the change again",
                )
            self._tables = {**self._tables, table.model: table}

    def tables(self) -> dict[str, RoutingTable]:
        """A snapshot of every model's current table."""
        return dict(self._tables)

    def revisions(self) -> dict[str, int]:
        """Each model's current revision: what a reload compares against the store."""
        return {model: table.revision for model, table in self._tables.items()}


def _forced_version(model: str, value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise InvalidValue(
            f"{FORCE_HEADER} header of a request to {model!r} is {value!r}, not a version number",
            hint=f"send e.g. {FORCE_HEADER}: 3",
        )
    return int(text)
