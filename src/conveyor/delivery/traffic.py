"""Traffic changes: set a model's routing table, its shadows and sticky key; read tables and
their history.

Every change is validated as a :class:`~conveyor.delivery.tables.RoutingTable` first, then
stored as the next revision with a ``traffic`` model event in the same transaction. A
running gateway polls :func:`~conveyor.delivery.deployments.load_tables`, which reads only
the revisions and then the tables that changed, so a change takes effect without a restart.

Changes take the caller's :class:`~conveyor.context.Context` and record its principal::

    set_traffic(ctx, "churn", {3: 90, 4: 10}, sticky="X-Conveyor-Key")
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from conveyor.delivery.deployments import as_table, get_table
from conveyor.delivery.tables import Route, RoutingTable, Shadow
from conveyor.errors import InvalidValue, NotFoundError
from conveyor.store.entities import Deployment as Deployment  # re-exported for the CLI
from conveyor.store.entities import ModelEvent

if TYPE_CHECKING:
    from conveyor.context import Context

CLEAR_STICKY = "none"


def parse_weights(pairs: Iterable[str]) -> dict[int, float]:
    """``["3=90", "4=10"]`` as ``{3: 90.0, 4: 10.0}``, with a message naming a bad pair."""
    weights: dict[int, float] = {}
    for pair in pairs:
        version, sep, weight = pair.partition("=")
        if not sep or not version.strip().isdigit():
            raise InvalidValue(f"{pair!r} is not VERSION=WEIGHT", hint="e.g. 3=90 4=10")
        try:
            value = float(weight)
        except ValueError:
            raise InvalidValue(
                f"weight {weight!r} in {pair!r} is not a number", hint="e.g. 3=90 4=10"
            ) from None
        if int(version) in weights:
            raise InvalidValue(f"version {int(version)} is given twice ({pair!r})")
        weights[int(version)] = value
    return weights


def set_traffic(
    ctx: Context,
    model: str,
    weights: Mapping[int, float],
    sticky: str | None = None,
) -> RoutingTable:
    """Route ``model``'s requests to versions by weight (normalised: 9 and 1 is 90%/10%).

    Shadows are kept. ``sticky=None`` keeps the sticky key; ``"none"`` removes it; a header
    name or ``field:NAME`` sets it.
    """
    current = _current(ctx, model)
    for version, weight in weights.items():
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise InvalidValue(
                f"weight of {model}/{version} is {weight!r}; weights must be numbers >= 0",
                hint="e.g. 3=90 4=10",
            )
    if sticky is None:
        sticky = None if current is None else current.sticky
    elif sticky.lower() == CLEAR_STICKY:
        sticky = None
    shadows = () if current is None else current.shadows
    routes = tuple(Route(v, float(w)) for v, w in weights.items())
    return _save(ctx, current, RoutingTable(model, routes, shadows, sticky))


def set_shadow(ctx: Context, model: str, version: int, share: float) -> RoutingTable:
    """Send a copy of ``share`` (0 < share <= 1) of ``model``'s requests to ``version``."""
    current = _required(ctx, model)
    others = tuple(s for s in current.shadows if s.version != version)
    table = RoutingTable(model, current.routes, (*others, Shadow(version, share)), current.sticky)
    return _save(ctx, current, table)


def clear_shadow(ctx: Context, model: str, version: int) -> RoutingTable:
    """Stop copying ``model``'s requests to shadow ``version``."""
    current = _required(ctx, model)
    if version not in {s.version for s in current.shadows}:
        shadows = ", ".join(str(s.version) for s in current.shadows) or "none"
        raise NotFoundError(
            f"version {version} is not a shadow of {model!r} (its shadows: {shadows})",
            hint=f"see `conveyor traffic show {model}`",
        )
    others = tuple(s for s in current.shadows if s.version != version)
    return _save(ctx, current, RoutingTable(model, current.routes, others, current.sticky))


def tables(ctx: Context, model: str | None = None) -> list[Deployment]:
    """Every stored routing table, or only ``model``'s (none if it has none yet)."""
    if model is None:
        return ctx.store.deployments.all()
    _known(ctx, model)
    found = ctx.store.deployments.get(model)
    return [] if found is None else [found]


def history(ctx: Context, model: str) -> list[ModelEvent]:
    """Every change to ``model``'s routing table, oldest first."""
    _known(ctx, model)
    return [e for e in ctx.store.registry.events(model) if e.kind == "traffic"]


def _known(ctx: Context, model: str) -> None:
    from conveyor.registry import Registry

    Registry(ctx).model(model)  # an unknown name gets "did you mean"


def _current(ctx: Context, model: str) -> RoutingTable | None:
    _known(ctx, model)
    return get_table(ctx.store, model)


def _required(ctx: Context, model: str) -> RoutingTable:
    current = _current(ctx, model)
    if current is None:
        raise NotFoundError(
            f"model {model!r} has no routing table yet",
            hint=f"route its traffic first: `conveyor traffic set {model} VERSION=WEIGHT ...`",
        )
    return current


def _save(ctx: Context, current: RoutingTable | None, table: RoutingTable) -> RoutingTable:
    saved = ctx.store.deployments.save(
        table.model,
        [(r.version, r.weight) for r in table.routes],
        [(s.version, s.share) for s in table.shadows],
        table.sticky,
        ctx.principal.name,
        expected_revision=0 if current is None else current.revision,
    )
    return as_table(saved)
