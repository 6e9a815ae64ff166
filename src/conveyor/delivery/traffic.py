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
from conveyor.delivery.tables import RoutingTable, Shadow
from conveyor.errors import InvalidValue, NotFoundError
from conveyor.ids import utcnow
from conveyor.registry import ALIAS
from conveyor.store.entities import Deployment as Deployment  # re-exported for the CLI
from conveyor.store.entities import ModelEvent

if TYPE_CHECKING:
    from conveyor.context import Context

CLEAR_STICKY = "none"


def parse_weights(pairs: Iterable[str]) -> dict[int | str, float]:
    """``["3=90", "challenger=10"]`` as ``{3: 90.0, "challenger": 10.0}`` (a version number or
    an alias, then its weight), with a message naming a bad pair."""
    weights: dict[int | str, float] = {}
    for pair in pairs:
        name, sep, weight = pair.partition("=")
        target: int | str = int(name) if name.strip().isdigit() else name.strip()
        if not sep or not (isinstance(target, int) or ALIAS.fullmatch(target)):
            raise InvalidValue(
                f"{pair!r} is not VERSION=WEIGHT or ALIAS=WEIGHT",
                hint="e.g. 3=90 4=10, or champion=90 challenger=10",
            )
        try:
            value = float(weight)
        except ValueError:
            raise InvalidValue(
                f"weight {weight!r} in {pair!r} is not a number", hint="e.g. 3=90 4=10"
            ) from None
        if target in weights:
            what = "version" if isinstance(target, int) else "alias"
            raise InvalidValue(f"{what} {target} is given twice ({pair!r})")
        weights[target] = value
    return weights


def set_traffic(
    ctx: Context,
    model: str,
    weights: Mapping[int | str, float],
    sticky: str | None = None,
) -> RoutingTable:
    """Route ``model``'s requests to versions by weight (normalised: 9 and 1 is 90%/10%).

    A key may be an alias (``{"champion": 90, "challenger": 10}``): the route follows the
    alias, so moving it (``Registry.promote``) moves the traffic; routes that resolve to one
    version add their weights. Shadows are kept. ``sticky=None`` keeps the sticky key;
    ``"none"`` removes it; a header name or ``field:NAME`` sets it.
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
    versions = tuple((v, float(w)) for v, w in weights.items() if isinstance(v, int))
    by_alias = tuple((a, float(w)) for a, w in weights.items() if isinstance(a, str))
    return _save(ctx, current, model, versions, by_alias, shadows, sticky)


def set_shadow(ctx: Context, model: str, version: int, share: float) -> RoutingTable:
    """Send a copy of ``share`` (0 < share <= 1) of ``model``'s requests to ``version``."""
    current = _required(ctx, model)
    others = tuple(s for s in current.shadows if s.version != version)
    return _keep_routes(ctx, current, (*others, Shadow(version, share)))


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
    return _keep_routes(ctx, current, others)


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


def _keep_routes(ctx: Context, current: RoutingTable, shadows: tuple[Shadow, ...]) -> RoutingTable:
    """Save ``current`` with new ``shadows``, its routes as stored (aliases stay aliases)."""
    stored = ctx.store.deployments.get(current.model)
    assert stored is not None  # current was read from it
    routes, by_alias = stored.routes, stored.alias_routes
    return _save(ctx, current, current.model, routes, by_alias, shadows, current.sticky)


def _save(
    ctx: Context,
    current: RoutingTable | None,
    model: str,
    routes: tuple[tuple[int, float], ...],
    by_alias: tuple[tuple[str, float], ...],
    shadows: tuple[Shadow, ...],
    sticky: str | None,
) -> RoutingTable:
    # Validate the table as it resolves now (an unknown alias, a route that is also a
    # shadow) before writing; the store checks the aliases again in its transaction.
    aliases = ctx.store.registry.get_model(model).aliases if by_alias else {}
    missing = sorted(a for a, _ in by_alias if a not in aliases)
    if missing:
        raise NotFoundError(
            f"model {model!r} has no alias {', '.join(missing)} "
            f"(its aliases: {', '.join(sorted(aliases)) or 'none'})",
            hint=f"set it first (`conveyor models alias {model} VERSION {missing[0]}`) "
            "or route by version number",
        )
    draft = Deployment(
        model,
        routes,
        tuple((s.version, s.share) for s in shadows),
        sticky,
        0,
        utcnow(),
        alias_routes=by_alias,
    )
    as_table(draft, aliases)
    saved = ctx.store.deployments.save(
        model,
        routes,
        draft.shadows,
        sticky,
        ctx.principal.name,
        expected_revision=0 if current is None else current.revision,
        alias_routes=by_alias,
    )
    return as_table(saved, aliases)
