"""Deployment records: the routing tables the store holds, and which of them changed.

The store keeps one deployment per model (``store.deployments``: routes, shadows, sticky key,
revision, who changed it last). Here those records become :class:`RoutingTable` values, and
a reader that knows some revisions (a gateway's router) learns which tables changed since,
reading only the revisions first and then just the changed tables::

    changed = load_tables(ctx.store, router.revisions())

A route may name an alias (``champion=90``) instead of a version: it is resolved to the
alias's version every time the table is read, and two routes that resolve to the same version
add their weights (``champion=90 3=10`` with ``@champion`` on 3 is ``3=100``). A reader that
holds resolved tables calls :func:`moved_aliases` on each poll to learn which of them an alias
move changed: a table's revision does not change when an alias moves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from conveyor.delivery.tables import Route, RoutingTable, Shadow
from conveyor.errors import ConveyorError, NotFoundError

if TYPE_CHECKING:
    from conveyor.store import Store
    from conveyor.store.entities import Deployment

log = logging.getLogger("conveyor.delivery")


def as_table(deployment: Deployment, aliases: Mapping[str, int] | None = None) -> RoutingTable:
    """A stored deployment as a routing table, its alias routes resolved with ``aliases``
    (the model's alias -> version); NotFoundError if a route's alias is not among them."""
    weights: dict[int, float] = {}
    for version, weight in deployment.routes:
        weights[version] = weights.get(version, 0.0) + weight
    resolved = []
    for alias, weight in deployment.alias_routes:
        target = (aliases or {}).get(alias)
        if target is None:
            known = ", ".join(sorted(aliases or {})) or "none"
            raise NotFoundError(
                f"the routing table of {deployment.name!r} routes by alias {alias!r}, "
                f"which no longer exists (its aliases: {known})",
                hint=f"set the alias again, or `conveyor traffic set {deployment.name} ...`",
            )
        weights[target] = weights.get(target, 0.0) + weight
        resolved.append((alias, target))
    return RoutingTable(
        deployment.name,
        tuple(Route(v, w) for v, w in weights.items()),
        tuple(Shadow(v, s) for v, s in deployment.shadows),
        deployment.sticky,
        deployment.revision,
        tuple(resolved),
    )


def resolve(store: Store, deployment: Deployment) -> RoutingTable:
    """``deployment`` as a routing table, its aliases resolved as the store holds them now."""
    if not deployment.alias_routes:
        return as_table(deployment)
    return as_table(deployment, store.registry.get_model(deployment.name).aliases)


def get_table(store: Store, model: str) -> RoutingTable | None:
    """The stored routing table of ``model`` (aliases resolved), or None if it has none."""
    found = store.deployments.get(model)
    return None if found is None else resolve(store, found)


def load_tables(store: Store, known: Mapping[str, int] | None = None) -> list[RoutingTable]:
    """The tables whose revision differs from ``known`` (model -> revision); all if None.

    A table that cannot be resolved now (its alias was removed, or now names a shadow) is
    left out with an error in the log, so the reader keeps the table it has."""
    if known is None:
        found = store.deployments.all()
    else:
        changed = [m for m, rev in store.deployments.revisions().items() if known.get(m) != rev]
        found = [d for d in map(store.deployments.get, changed) if d is not None]
    return [t for t in (_resolved(store, d) for d in found) if t is not None]


def moved_aliases(store: Store, tables: Mapping[str, RoutingTable]) -> list[RoutingTable]:
    """The tables among ``tables`` (model -> table in use) that route by an alias which has
    moved since they were resolved, resolved again: one query per such model."""
    moved = []
    for model, table in tables.items():
        if not table.aliases:
            continue
        now = store.registry.get_model(model).aliases
        if any(now.get(alias) != version for alias, version in table.aliases):
            found = store.deployments.get(model)
            fresh = None if found is None else _resolved(store, found)
            if fresh is not None:
                moved.append(fresh)
    return moved


def _resolved(store: Store, deployment: Deployment) -> RoutingTable | None:
    try:
        return resolve(store, deployment)
    except ConveyorError as exc:
        log.error(
            "routing table of %s (revision %d) not applied: %s",
            deployment.name,
            deployment.revision,
            exc,
        )
        return None
