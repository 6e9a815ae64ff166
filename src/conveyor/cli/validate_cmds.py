"""``conveyor validate``: check data against a schema, or infer a schema from data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from conveyor.validation import ValidationReport
    from conveyor.validation.ranges import RangeRule

Results = list[tuple[str | None, "ValidationReport"]]
DATA_SUFFIXES = (".csv", ".parquet", ".pq", ".gz", ".bz2", ".xz", ".zst", ".zip")


def register(app: typer.Typer) -> None:
    """Add ``validate`` to ``app``."""
    app.command("validate")(validate)


def validate(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A data file (with --schema or --infer), or the name of an entry of "
            "conveyor.yaml's validation block (default: every entry).",
            show_default=False,
        ),
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="The schema YAML to check against.")
    ] = None,
    infer: Annotated[
        bool, typer.Option("--infer", help="Infer a schema from the data file instead.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="With --infer: write the schema here (else stdout)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --infer -o: overwrite an existing file.")
    ] = False,
    range_margin: Annotated[
        float | None,
        typer.Option(
            "--range-margin",
            min=0.0,
            help="With --infer: widen each inferred min/max by this share of the range on "
            "each side (0.1: 10%), so slightly wider new data passes.",
            show_default=False,
        ),
    ] = None,
    range_quantiles: Annotated[
        str | None,
        typer.Option(
            "--range-quantiles",
            metavar="LOW,HIGH",
            help="With --infer: take min/max at these quantiles (e.g. 0.01,0.99) instead "
            "of the extremes, so an outlier does not set the bound.",
            show_default=False,
        ),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option("--chunk-rows", min=1, help="Rows read at a time (default: 250,000)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Check data against a schema (exit code 1 if it fails), or infer a schema.

    Examples:

      conveyor validate data/new.csv --schema schemas/train.yaml

      conveyor validate            (every entry of the validation: block of conveyor.yaml)

      conveyor validate --infer data/train.csv -o schemas/train.yaml --range-margin 0.1
    """
    if infer:
        _refuse(schema is not None, "--schema and --infer do not go together")
        _infer(target, output, force, chunk_rows, _range_rule(range_margin, range_quantiles))
        return
    _refuse(
        output is not None or force or range_margin is not None or range_quantiles is not None,
        "--output, --force, --range-margin and --range-quantiles go with --infer",
    )
    if schema is not None:
        from conveyor.validation import validate_file

        _refuse(target is None, "give the data file to check: conveyor validate DATA --schema S")
        assert target is not None
        results: Results = [(None, validate_file(Path(target), schema, chunk_rows=chunk_rows))]
    else:
        results = _declared(target, chunk_rows)
    _show(results, as_json)
    _fail_if_failed(results)


def _refuse(condition: bool, message: str) -> None:
    if condition:
        raise typer.BadParameter(message)


def _range_rule(margin: float | None, quantiles: str | None) -> RangeRule:
    from conveyor.validation.ranges import RangeRule

    bounds = None
    if quantiles is not None:
        expected = f"--range-quantiles takes LOW,HIGH with 0 <= LOW < HIGH <= 1, got {quantiles!r}"
        try:
            low, high = (float(part) for part in quantiles.split(","))
        except ValueError:
            raise typer.BadParameter(expected) from None
        _refuse(not 0 <= low < high <= 1, expected)
        bounds = (low, high)
    return RangeRule(margin=margin or 0.0, quantiles=bounds)


def _declared(target: str | None, chunk_rows: int | None) -> Results:
    from conveyor.errors import ProjectNotFound
    from conveyor.project import load_project
    from conveyor.validation import log_reports, validate_declared

    try:
        project = load_project()
        config = project.config
    except ProjectNotFound:
        if target is not None:
            _refuse(target.lower().endswith(DATA_SUFFIXES), _needs_schema(target))
        raise
    if target is not None and target not in config.validation:
        _refuse(target.lower().endswith(DATA_SUFFIXES), _needs_schema(target))
    if not config.validation:
        from conveyor.errors import ConfigError

        raise ConfigError(
            f"{project.config_path} declares no data to validate",
            hint="add a validation: block (see docs/validation.md), or check a file: "
            "conveyor validate DATA --schema SCHEMA",
        )
    names = [target] if target else []
    results = validate_declared(project.root, config, names, chunk_rows=chunk_rows)
    from conveyor.settings import Settings

    if Settings.from_env().run_id:  # a stage of `conveyor run`: log on its run
        log_reports(results)
    return [(name, report) for name, report in results]


def _needs_schema(target: str) -> str:
    return (
        f"{target} looks like a data file: give its schema (--schema SCHEMA), "
        f"or infer one (--infer {target} -o SCHEMA)"
    )


def _infer(
    target: str | None, output: Path | None, force: bool, chunk_rows: int | None, ranges: RangeRule
) -> None:
    from conveyor.errors import ConflictError
    from conveyor.validation import infer_schema

    _refuse(target is None, "give the data file to infer from: conveyor validate --infer DATA")
    assert target is not None
    if output is not None and output.exists() and not force:
        raise ConflictError(
            f"{output} already exists",
            hint="write to another file and compare them, or use --force to overwrite it",
        )
    inferred = infer_schema(Path(target), chunk_rows=chunk_rows, ranges=ranges)
    text = inferred.to_yaml()
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(
        f"wrote {output}: {len(inferred.schema.columns)} columns, from {inferred.rows:,} rows "
        f"of {target}; ranges: {ranges.describe()}; review it before committing"
    )


def _show(results: Results, as_json: bool) -> None:
    if as_json:
        from conveyor.cli.context import print_json

        if results[0][0] is None:  # a file, not declared entries
            print_json(results[0][1].as_dict())
        else:
            print_json([{"name": name, **report.as_dict()} for name, report in results])
        return
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for name, report in results:
        _print_report(console, name, report)


def _print_report(console: Console, name: str | None, report: ValidationReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    prefix = f"{name}: " if name else ""
    if report.passed:
        console.print(f"[green]passed[/] {escape(prefix + report.headline())}")
        return
    console.print(f"[bold red]FAILED[/] {escape(prefix + report.headline())}")
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("column", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("what was found", overflow="fold")
    for finding in report.findings:
        table.add_row(
            escape(finding.column or "(rows)"),
            escape(finding.check),
            f"{finding.failing_rows:,}",
            escape(finding.message),
        )
    console.print(table)


def _fail_if_failed(results: Sequence[tuple[str | None, ValidationReport]]) -> None:
    from conveyor.errors import ValidationFailed

    failed = [(name, report) for name, report in results if not report.passed]
    if not failed:
        return
    lines = [(f"{name}: " if name else "") + _failure_line(report) for name, report in failed]
    if len(results) == 1:
        message = lines[0]
    else:
        message = f"{len(failed)} of {len(results)} data sets failed validation:\n  " + (
            "\n  ".join(lines)
        )
    raise ValidationFailed(
        message,
        findings={str(name): report.findings for name, report in failed},
        hint="fix the data; if the change is expected, update the schema (conveyor validate "
        "--infer DATA writes a fresh one to compare with)",
    )


def _failure_line(report: ValidationReport, most: int = 6) -> str:
    """``data.csv does not match s.yaml: 3 of 25 checks failed (age: range; id: unique)``."""
    checks: dict[str, list[str]] = {}
    for finding in report.findings:
        checks.setdefault(finding.column or "(rows)", []).append(finding.check)
    listed = [f"{column}: {', '.join(names)}" for column, names in checks.items()]
    more = f"; and {len(listed) - most} more columns" if len(listed) > most else ""
    return (
        f"{report.data} does not match {report.schema}: {len(report.findings)} of "
        f"{report.checks} checks failed ({'; '.join(listed[:most])}{more})"
    )
