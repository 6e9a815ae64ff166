"""``conveyor traffic ...``: route a model's requests across its versions, shadow, show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.delivery.tables import RoutingTable
    from conveyor.delivery.traffic import Deployment

app = typer.Typer(
    name="traffic",
    help="Routing tables: weighted versions, sticky keys and shadows, live in `conveyor serve`.",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Name = Annotated[str, typer.Argument(help="Registered model name.")]


def register(root: typer.Typer) -> None:
    """Add the ``traffic`` command group to ``root``."""
    root.add_typer(app)


def _context() -> Context:
    from conveyor.cli.context import command_context

    return command_context()


@app.command("set")
def set_weights(
    name: Name,
    pairs: Annotated[
        list[str],
        typer.Argument(
            metavar="VERSION=WEIGHT...",
            help="e.g. 3=90 4=10, or by alias: champion=90 challenger=10 (follows the alias).",
        ),
    ],
    sticky: Annotated[
        str | None,
        typer.Option(
            "--sticky",
            help="Keep a user on one version: a header (X-Conveyor-Key), field:NAME, or none.",
        ),
    ] = None,
) -> None:
    """Split NAME's requests across versions by weight (normalised; shadows are kept)."""
    from conveyor.delivery import traffic

    weights = traffic.parse_weights(pairs)
    table = traffic.set_traffic(_context(), name, weights, sticky=sticky)
    typer.echo(f"{name} revision {table.revision}: {_routes(table)}")


@app.command("shadow")
def shadow(
    name: Name,
    version: Annotated[int, typer.Argument(help="Version that gets copies.", min=1)],
    share: Annotated[
        float | None,
        typer.Option("--share", min=0.0, max=1.0, help="Share of requests copied, in (0, 1]."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop shadowing this version.")] = False,
) -> None:
    """Send VERSION a copy of a share of NAME's requests (never returned), or --off."""
    from conveyor.delivery import traffic

    if off == (share is not None):
        raise typer.BadParameter("give exactly one of --share or --off")
    ctx = _context()
    if off:
        table = traffic.clear_shadow(ctx, name, version)
        typer.echo(f"{name} revision {table.revision}: v{version} no longer shadows")
        return
    assert share is not None
    table = traffic.set_shadow(ctx, name, version, share)
    typer.echo(f"{name} revision {table.revision}: v{version} shadows {share:.0%} of requests")


@app.command("show")
def show(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: AsJson = False,
) -> None:
    """Show routing tables: versions with their share, shadows, sticky key, who changed it."""
    from conveyor.cli.context import print_json
    from conveyor.delivery import traffic
    from conveyor.delivery.deployments import resolve

    ctx = _context()
    found = [(d, resolve(ctx.store, d)) for d in traffic.tables(ctx, name)]
    if as_json:
        print_json([_as_dict(d, table) for d, table in found])
        return
    if not found:
        typer.echo("No routing tables yet (`conveyor traffic set MODEL 3=90 4=10`).")
    for deployment, table in found:
        _print(deployment, table)


@app.command("history")
def history(name: Name, as_json: AsJson = False) -> None:
    """Every change to NAME's routing table: when, who, from -> to."""
    from conveyor.cli.context import print_json
    from conveyor.delivery import traffic

    events = traffic.history(_context(), name)
    if as_json:
        print_json(
            [
                {"at": e.at.isoformat(), "actor": e.actor, "before": e.before, "after": e.after}
                | e.details
                for e in events
            ]
        )
        return
    for e in events:
        typer.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S}  r{e.details.get('revision')}  "
            f"{e.before or '-'} -> {e.after}  by {e.actor or 'unknown'}"
        )


def _routes(table: RoutingTable) -> str:
    return " ".join(
        f"{_via(table, r.version)}v{r.version}={table.share(r.version):.1%}" for r in table.routes
    )


def _via(table: RoutingTable, version: int) -> str:
    """``@champion->`` for a version an alias route resolved to, else nothing."""
    return "".join(f"@{alias}->" for alias in table.aliases_of(version))


def _as_dict(deployment: Deployment, table: RoutingTable) -> dict[str, Any]:
    return {
        "model": deployment.name,
        "revision": deployment.revision,
        "routes": [
            {
                "version": r.version,
                "weight": r.weight,
                "share": table.share(r.version),
                "aliases": list(table.aliases_of(r.version)),
            }
            for r in table.routes
        ],
        "shadows": [{"version": s.version, "share": s.share} for s in table.shadows],
        "alias_routes": [{"alias": a, "weight": w} for a, w in deployment.alias_routes],
        "sticky": deployment.sticky,
        "updated_at": deployment.updated_at.isoformat(),
        "updated_by": deployment.updated_by,
    }


def _print(deployment: Deployment, table: RoutingTable) -> None:
    typer.echo(
        f"{deployment.name}  revision {deployment.revision}  "
        f"sticky {deployment.sticky or '-'}  changed {deployment.updated_at:%Y-%m-%d %H:%M} "
        f"by {deployment.updated_by or 'unknown'}"
    )
    for route in table.routes:
        via = " ".join(f"@{alias}" for alias in table.aliases_of(route.version))
        typer.echo(
            f"  v{route.version:<5} {table.share(route.version):>7.1%}  weight {route.weight:g}"
            + (f"  via {via}" if via else "")
        )
    for s in table.shadows:
        typer.echo(f"  v{s.version:<5} shadow {s.share:.0%} of requests")
