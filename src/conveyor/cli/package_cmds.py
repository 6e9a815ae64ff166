"""``conveyor package``: a registered version as a self-contained bundle you can serve anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``package`` to ``app``."""
    app.command("package")(package)


def package(
    model: Annotated[
        str,
        typer.Argument(
            help="A registered version: NAME@ALIAS, NAME/3 (models:/ optional).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The bundle directory to write (new or empty).", metavar="DIR"
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace DIR if it holds an earlier bundle.")
    ] = False,
) -> None:
    """Write MODEL as a bundle: model files, pinned requirements, serve.py and a Dockerfile.

    The bundle serves the model without a store, registry or database: in a fresh virtualenv
    (pip install --no-deps -r requirements.txt; python serve.py) or as a Docker image.
    Example: conveyor package churn@champion -o dist/churn
    """
    from conveyor.cli.context import command_context
    from conveyor.packaging import build_bundle

    bundle = build_bundle(model, output, command_context(), force=force)
    info = bundle.info
    shown = _shown(bundle.directory)
    typer.echo(f"packaged {info.name}/{info.version} ({info.flavor}) into {shown}")
    wheels = [Path(line).name for line in bundle.requirements if line.startswith("./")]
    pinned = len(bundle.requirements) - len(wheels)
    typer.echo(
        f"requirements.txt: {pinned} distributions pinned"
        + (f", wheels/: {', '.join(wheels)}" if wheels else "")
    )
    for note in bundle.notes:
        typer.echo(f"note: {note}")
    typer.echo(
        f"run it: cd {shown} && python{info.python.rsplit('.', 1)[0]} -m venv .venv && "
        ".venv/bin/pip install --no-deps -r requirements.txt && .venv/bin/python serve.py"
    )
    typer.echo(f"    or: docker build -t {info.name.lower()}:{info.version} {shown}")


def _shown(directory: Path) -> str:
    """``directory`` relative to the working directory when it is below it."""
    try:
        return str(directory.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(directory)
