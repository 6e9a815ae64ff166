"""The CLI's entry point: the one place that turns errors into messages and exit codes.

0   success (also: nothing to do)
1   a ConveyorError (bad config, failed stage, missing run, ...)
2   wrong command-line usage
130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import sys

import typer

from conveyor.cli import (
    ci_cmds,
    models_cmds,
    monitor_alert_cmds,
    monitor_cmds,
    package_cmds,
    pipeline_cmds,
    quality_cmds,
    rollout_cmds,
    runs_cmds,
    serve_cmds,
    traffic_cmds,
    validate_cmds,
)

app = typer.Typer(
    name="conveyor",
    help="Conveyor: continuous integration, training and delivery for ML models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
pipeline_cmds.register(app)
runs_cmds.register(app)
models_cmds.register(app)
ci_cmds.register(app)
quality_cmds.register(app)
validate_cmds.register(app)
serve_cmds.register(app)
package_cmds.register(app)
traffic_cmds.register(app)
rollout_cmds.register(app)
monitor_alert_cmds.register(monitor_cmds.app)
monitor_cmds.register(app)


def _version(value: bool) -> None:
    if value:
        from conveyor import __version__

        typer.echo(f"conveyor {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Conveyor: continuous integration, training and delivery for ML models."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never a traceback for a ConveyorError)."""
    import click

    from conveyor.errors import ConveyorError

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="conveyor", standalone_mode=False)
    except ConveyorError as exc:
        _print_error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("interrupted\n")
        return 130
    except click.ClickException as exc:  # usage errors: unknown option, missing argument, ...
        exc.show()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    finally:
        _close_contexts()
    return result if isinstance(result, int) else 0


def _close_contexts() -> None:
    # Only a command that built a context imported cli.context; importing it here would
    # cost `--help` the project and hashing modules it never uses.
    built = sys.modules.get("conveyor.cli.context")
    if built is not None:
        built.close_contexts()


def _print_error(exc: BaseException) -> None:
    from rich.console import Console
    from rich.markup import escape

    from conveyor.errors import ConveyorError

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    message = exc.message if isinstance(exc, ConveyorError) else str(exc)
    console.print(f"[bold red]error:[/] {escape(message)}", emoji=False)
    hint = getattr(exc, "hint", None)
    if hint:
        console.print(f"[dim]hint:[/] {escape(hint)}", emoji=False)
