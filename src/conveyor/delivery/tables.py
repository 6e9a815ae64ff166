"""A model's routing table: which versions answer its requests, in what shares, which
versions get a copy (shadows), and the sticky key. Pure data and its rules, no I/O.

A table is validated when it is made, so no invalid table is ever stored or applied: at
least one route, weights finite and >= 0 with one positive, shadow shares in (0, 1], no
version twice, none both a route and a shadow, and a sticky key that is a header name or
``field:NAME``. How a gateway picks a version for a request under a table is
:mod:`conveyor.serving.routing`'s job; how tables change is :mod:`conveyor.delivery.traffic`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from conveyor.errors import InvalidValue


@dataclass(frozen=True)
class Route:
    """A version that answers requests, with its weight (any scale; shares are normalised)."""

    version: int
    weight: float


@dataclass(frozen=True)
class Shadow:
    """A version that gets a copy of ``share`` (0 < share <= 1) of the requests, never answers."""

    version: int
    share: float


@dataclass(frozen=True)
class RoutingTable:
    """One model's routes, shadows and sticky key, validated on construction.

    ``sticky`` is a header name (``X-Conveyor-Key``) or ``field:NAME`` for an input field.
    Routes and shadows are kept sorted by version. ``aliases`` are the aliases the stored
    table routes by, each with the version it resolved to when the table was read (the
    routes already hold those versions; a gateway compares them to notice an alias move).

    >>> table = RoutingTable("churn", (Route(4, 1), Route(3, 9)))
    >>> [(r.version, round(table.share(r.version), 2)) for r in table.routes]
    [(3, 0.9), (4, 0.1)]
    """

    model: str
    routes: tuple[Route, ...]
    shadows: tuple[Shadow, ...] = ()
    sticky: str | None = None
    revision: int = 0
    aliases: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", tuple(sorted(self.routes, key=_version)))
        object.__setattr__(self, "aliases", tuple(sorted(self.aliases)))
        object.__setattr__(self, "shadows", tuple(sorted(self.shadows, key=_version)))
        _check_routes(self.model, self.routes)
        _check_shadows(self.model, self.routes, self.shadows)
        if self.sticky is not None:
            check_sticky(self.sticky)

    @property
    def total(self) -> float:
        """The sum of the route weights (positive)."""
        return math.fsum(route.weight for route in self.routes)

    def share(self, version: int) -> float:
        """The normalised share of requests ``version`` answers (0 for shadows and others)."""
        return next((r.weight / self.total for r in self.routes if r.version == version), 0.0)

    def aliases_of(self, version: int) -> tuple[str, ...]:
        """The aliases of the table that resolved to ``version`` (none for a numbered route)."""
        return tuple(alias for alias, v in self.aliases if v == version)

    def versions(self) -> tuple[int, ...]:
        """Every version the table names, routes then shadows."""
        return tuple(r.version for r in self.routes) + tuple(s.version for s in self.shadows)


def _version(entry: Route | Shadow) -> int:
    return entry.version


def _check_routes(model: str, routes: tuple[Route, ...]) -> None:
    where = f"routing table of {model!r}"
    if not routes:
        raise InvalidValue(f"{where} has no routes", hint="give at least one VERSION=WEIGHT")
    for route in routes:
        _check_version(where, route.version)
        weight = route.weight
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise InvalidValue(f"{where}: weight of version {route.version} is {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise InvalidValue(
                f"{where}: weight of version {route.version} is {weight}; "
                "weights must be finite numbers >= 0",
                hint="e.g. 3=90 4=10 (weights need not add up to 100)",
            )
    _check_unique(where, [r.version for r in routes], "route")
    if not any(route.weight > 0 for route in routes):
        raise InvalidValue(
            f"{where}: every weight is 0, so no version would answer",
            hint="give at least one version a positive weight",
        )


def _check_shadows(model: str, routes: tuple[Route, ...], shadows: tuple[Shadow, ...]) -> None:
    where = f"routing table of {model!r}"
    routed = {route.version for route in routes}
    for shadow in shadows:
        _check_version(where, shadow.version)
        share = shadow.share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise InvalidValue(
                f"{where}: shadow share of version {shadow.version} is {share!r}; "
                "it must be in (0, 1]",
                hint="e.g. 0.2 sends a copy of 20% of the requests",
            )
        if shadow.version in routed:
            raise InvalidValue(
                f"{where}: version {shadow.version} is both a route and a shadow",
                hint="a version either answers requests or shadows them; remove one",
            )
    _check_unique(where, [s.version for s in shadows], "shadow")


def _check_version(where: str, version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidValue(f"{where}: version {version!r} is not a version number (1, 2, ...)")


def _check_unique(where: str, versions: list[int], what: str) -> None:
    twice = sorted({v for v in versions if versions.count(v) > 1})
    if twice:
        raise InvalidValue(
            f"{where}: {what} version(s) {', '.join(map(str, twice))} given more than once"
        )


def check_sticky(sticky: str) -> None:
    """Raise :class:`InvalidValue` unless ``sticky`` is a header name or ``field:NAME``."""
    name = sticky.removeprefix("field:")
    token = all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name) and name.isascii()
    if not name or not token:
        raise InvalidValue(
            f"sticky key {sticky!r} is neither a header name nor field:NAME",
            hint="e.g. X-Conveyor-Key, or field:user_id for an input field",
        )
