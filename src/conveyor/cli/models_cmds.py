"""``conveyor models ...``: the model registry from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from conveyor.registry import ModelVersion, Registry

app = typer.Typer(
    name="models",
    help="Registered models: versions, aliases, statuses and lineage.",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Name = Annotated[str, typer.Argument(help="Registered model name.")]
Version = Annotated[int, typer.Argument(help="Version number.", min=1)]


def register(root: typer.Typer) -> None:
    """Add the ``models`` command group to ``root``."""
    root.add_typer(app)


def _registry() -> Registry:
    from conveyor.cli.context import command_context
    from conveyor.registry import Registry

    return Registry(command_context())


def version_as_dict(v: ModelVersion) -> dict[str, Any]:
    """A model version for ``--json``."""
    return {
        "name": v.name,
        "version": v.version,
        "status": v.status,
        "aliases": list(v.aliases),
        "run_id": v.run_id,
        "model_id": v.model_id,
        "created_at": v.created_at.isoformat(),
        "created_by": v.created_by,
        "description": v.description,
        "tags": v.tags,
    }


@app.command("list")
def list_models(as_json: AsJson = False) -> None:
    """List registered models with their latest version and aliases."""
    from conveyor.cli.context import print_json

    registry = _registry()
    models = registry.list_models()
    if as_json:
        print_json(
            [
                {
                    "name": m.name,
                    "latest_version": m.latest_version,
                    "aliases": m.aliases,
                    "updated_at": m.updated_at.isoformat(),
                    "description": m.description,
                }
                for m in models
            ]
        )
        return
    if not models:
        typer.echo("No registered models yet (`conveyor models register RUN --name NAME`).")
        return
    for m in models:
        aliases = " ".join(f"@{a}={v}" for a, v in sorted(m.aliases.items()))
        latest = "no versions"
        if m.latest_version is not None:
            status = registry.version(m.name, m.latest_version).status
            latest = f"latest v{m.latest_version} {status}"
        typer.echo(f"{m.name:<24} {latest:<22} {aliases}".rstrip())


@app.command("versions")
def versions(
    where: Annotated[
        str, typer.Option("--where", help="Filter, e.g. \"name = 'churn' and metrics.auc > 0.9\".")
    ] = "",
    order_by: Annotated[str, typer.Option("--order-by", help="e.g. 'metrics.auc DESC'.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many versions.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Search model versions by attributes, tags, and their runs' metrics and params."""
    from conveyor.cli.context import print_json

    found = _registry().search(where, order_by, limit)
    if as_json:
        print_json([version_as_dict(v) for v in found])
        return
    if not found:
        typer.echo("No versions match.")
    for v in found:
        aliases = " ".join(f"@{a}" for a in v.aliases)
        typer.echo(f"{v.name}/{v.version:<4} {v.status:<10} run {v.run_id}  {aliases}")


@app.command("show")
def show(
    target: Annotated[str, typer.Argument(help="NAME, or NAME/VERSION.")],
    as_json: AsJson = False,
) -> None:
    """Show a model's versions, or one version with its history."""
    from conveyor.cli.context import print_json

    registry = _registry()
    name, _, number = target.partition("/")
    if not number:
        versions = registry.versions(name)  # an unknown name gets "did you mean"
        if as_json:
            print_json([version_as_dict(v) for v in versions])
            return
        for v in versions:
            aliases = " ".join(f"@{a}" for a in v.aliases)
            typer.echo(
                f"{v.name}/{v.version:<4} {v.status:<10} run {v.run_id}  "
                f"{v.created_at:%Y-%m-%d %H:%M}  {aliases}"
            )
        return
    details = registry.details(name, int(number))
    version, model, events = details.version, details.model, details.events
    if as_json:
        print_json(
            {
                **version_as_dict(version),
                "flavor": model.flavor,
                "digest": model.digest,
                "info": model.info,
                "events": [
                    {
                        "kind": e.kind,
                        "actor": e.actor,
                        "at": e.at.isoformat(),
                        "before": e.before,
                        "after": e.after,
                        "details": e.details,
                    }
                    for e in events
                ],
            }
        )
        return
    typer.echo(
        f"{name}/{version.version}  {version.status}  " + " ".join(f"@{a}" for a in version.aliases)
    )
    typer.echo(
        f"  model    {model.flavor}, {model.digest[:16]} (runs:/{model.run_id}/{model.name})"
    )
    if version.tags:
        typer.echo("  tags     " + " ".join(f"{k}={v}" for k, v in sorted(version.tags.items())))
    signature = model.info.get("signature") or {}
    inputs = ", ".join(
        f"{i.get('name') or 'tensor'}:{i.get('dtype')}" for i in signature.get("inputs", [])
    )
    if inputs:
        typer.echo(f"  inputs   {inputs}")
    typer.echo("history")
    for e in events:
        change = f"{e.before or '-'} -> {e.after or '-'}"
        detail = " ".join(f"{k}={v}" for k, v in e.details.items())
        typer.echo(
            f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.kind:<10} {change:<18} {detail} "
            f"by {e.actor or 'unknown'}"
        )


@app.command("register")
def register_model(
    source: Annotated[str, typer.Argument(help="runs:/RUN/MODEL, a run id, or latest.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Registered model name.")],
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    as_json: AsJson = False,
) -> None:
    """Register a logged model as a new version of NAME (status: candidate)."""
    from conveyor.cli.context import print_json

    version = _registry().register(source, name, description)
    if as_json:
        print_json(version_as_dict(version))
    else:
        typer.echo(f"registered {version.name}/{version.version} from run {version.run_id}")


@app.command("alias")
def alias(
    name: Name,
    version: Version,
    alias_name: Annotated[
        str, typer.Argument(metavar="ALIAS", help="Alias to point at the version.")
    ],
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
) -> None:
    """Point an alias (champion, challenger, any name) at a version, or --delete it."""
    registry = _registry()
    if delete:
        registry.delete_alias(name, version, alias_name)
        typer.echo(f"removed {name}@{alias_name} (was v{version})")
        return
    before = registry.set_alias(name, version, alias_name)
    moved = f" (was v{before})" if before not in (None, version) else ""
    typer.echo(f"{name}@{alias_name} -> v{version}{moved}")


@app.command("promote")
def promote(
    name: Name,
    version: Version,
    to: Annotated[str, typer.Option("--to", help="Alias to move.")] = "champion",
) -> None:
    """Approve a version and move an alias onto it; the previous holder stays in history."""
    before = _registry().promote(name, version, to)
    moved = f"; previous holder v{before} is kept in the history" if before else ""
    typer.echo(f"promoted {name}/{version} to @{to}{moved}")


@app.command("status")
def status(
    name: Name,
    version: Version,
    new_status: Annotated[
        str, typer.Argument(metavar="STATUS", help="candidate, approved, rejected or archived.")
    ],
) -> None:
    """Change a version's status: candidate -> approved | rejected; approved -> rejected;
    rejected -> candidate; any -> archived."""
    before = _registry().set_status(name, version, new_status)
    typer.echo(f"{name}/{version}: {before} -> {new_status}")


@app.command("tag")
def tag(
    name: Name,
    version: Annotated[int, typer.Argument(help="Version number; 0 tags the model itself.")],
    pairs: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...", help="Tags to set.")],
) -> None:
    """Set tags on a version (searchable as tags.KEY in `models versions --where`)."""
    from conveyor.errors import InvalidValue

    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidValue(f"{pair!r} is not KEY=VALUE", hint="e.g. team=risk")
        tags[key] = value
    _registry().set_tags(name, version, tags)
    typer.echo(
        f"tagged {name}{f'/{version}' if version else ''}: "
        + ", ".join(f"{k}={v}" for k, v in tags.items())
    )


@app.command("archive")
def archive(name: Name, version: Version) -> None:
    """Archive a version: kept with its files and history, no longer offered."""
    _registry().archive(name, version)
    typer.echo(f"{name}/{version} archived")


@app.command("lineage")
def lineage(
    target: Annotated[str, typer.Argument(help="NAME/VERSION.")],
    as_json: AsJson = False,
) -> None:
    """The graph: model version <- run <- stage executions <- data digests <- git commit."""
    from conveyor.cli.context import print_json
    from conveyor.errors import InvalidValue
    from conveyor.registry import render_tree

    name, _, number = target.partition("/")
    if not number.isdigit():
        raise InvalidValue(f"{target!r} should be NAME/VERSION, e.g. churn/3")
    tree = _registry().lineage(name, int(number))
    if as_json:
        print_json(tree.as_dict())
    else:
        typer.echo("\n".join(render_tree(tree)))
