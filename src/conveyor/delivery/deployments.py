"""Deployment records: the routing tables the store holds, and which of them changed.

The store keeps one deployment per model (``store.deployments``: routes, shadows, sticky key,
revision, who changed it last). Here those records become :class:`RoutingTable` values, and
a reader that knows some revisions (a gateway's router) learns which tables changed since,
reading only the revisions first and then just the changed tables::

    changed = load_tables(ctx.store, router.revisions())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from conveyor.delivery.tables import Route, RoutingTable, Shadow

if TYPE_CHECKING:
    from conveyor.store import Store
    from conveyor.store.entities import Deployment


def as_table(deployment: Deployment) -> RoutingTable:
    """A stored deployment as a routing table."""
    return RoutingTable(
        deployment.name,
        tuple(Route(v, w) for v, w in deployment.routes),
        tuple(Shadow(v, s) for v, s in deployment.shadows),
        deployment.sticky,
        deployment.revision,
    )


def get_table(store: Store, model: str) -> RoutingTable | None:
    """The stored routing table of ``model``, or None if it has none."""
    found = store.deployments.get(model)
    return None if found is None else as_table(found)


def load_tables(store: Store, known: Mapping[str, int] | None = None) -> list[RoutingTable]:
    """The tables whose revision differs from ``known`` (model -> revision); all if None."""
    if known is None:
        return [as_table(d) for d in store.deployments.all()]
    changed = [m for m, rev in store.deployments.revisions().items() if known.get(m) != rev]
    found = (store.deployments.get(model) for model in changed)
    return [as_table(d) for d in found if d is not None]
