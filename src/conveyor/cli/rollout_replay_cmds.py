"""``conveyor rollout replay`` and ``conveyor rollout report``: a rollout's judgement read
back, on logged traffic or from the store. Thin: the work is in
:mod:`conveyor.delivery.rollout.replay` and :mod:`conveyor.reports.rollout`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from conveyor.config import DeployConfig
    from conveyor.context import Context
    from conveyor.delivery.rollout.replay import Replay, ReplayVerdict

Name = Annotated[str, typer.Argument(help="Registered model name.")]


def replay(
    name: Name,
    since: Annotated[str, typer.Option("--from", help="Start: ISO time (UTC) or 2h, 3d ago.")],
    until: Annotated[str, typer.Option("--to", help="End: ISO time (UTC) or 2h, 3d ago.")],
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="A conveyor.yaml whose deploy: block is the policy."),
    ] = None,
    candidate: Annotated[
        int | None, typer.Option("--candidate", help="Candidate version (default: found).", min=1)
    ] = None,
    stable: Annotated[
        int | None, typer.Option("--stable", help="Stable version (default: found).", min=1)
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="conveyor | kayenta | flagger (default: the policy's)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Say what the rollout controller would have decided on NAME's logged traffic between
    --from and --to, and when. Reads only; changes nothing."""
    from conveyor.cli.context import command_context, print_json
    from conveyor.delivery.rollout.replay import replay as run_replay

    ctx = command_context()
    result = run_replay(
        ctx,
        name,
        _moment(since, "--from"),
        _moment(until, "--to"),
        _policy(ctx, policy, judge),
        candidate=candidate,
        stable=stable,
    )
    if as_json:
        print_json(result.as_dict())
    else:
        _print_replay(result)


def _moment(text: str, option: str) -> datetime:
    from conveyor.cli.runs_cmds import parse_since
    from conveyor.errors import ConfigError

    try:
        return parse_since(text)
    except ConfigError:
        raise ConfigError(
            f"{option} {text!r} is neither a duration nor a date",
            hint="use e.g. 2h, 3d, 2026-11-01 or 2026-11-01T09:30 (UTC unless it says)",
        ) from None


def _policy(ctx: Context, path: Path | None, judge: str | None) -> DeployConfig:
    """The deploy: block of ``path`` (only that block is read), else the project's; with
    ``--judge`` on top."""
    from pydantic import ValidationError

    from conveyor import yamlio
    from conveyor.config import DeployConfig, describe_errors
    from conveyor.errors import ConfigError
    from conveyor.serving.rollout_checks import _config

    if path is None:
        project = _config(ctx)
        block = project.deploy.model_dump() if project is not None else {}
        where = "conveyor.yaml (deploy:)"
    else:
        try:
            data = yamlio.load(path.read_text(encoding="utf-8"), path.name)
        except OSError as exc:
            raise ConfigError(f"cannot read policy {path}: {exc.strerror}") from exc
        block = (data.get("deploy") if isinstance(data, dict) else None) or {}
        where = f"{path} (deploy:)"
    if judge is not None:
        block, where = {**block, "judge": judge}, f"{where} with --judge"
    try:
        return DeployConfig.model_validate(block)
    except ValidationError as exc:
        raise ConfigError(
            describe_errors(exc, None, where, root=DeployConfig, title="invalid policy"),
            hint="see docs/conveyor-yaml.md#deploy",
        ) from None


def _print_replay(result: Replay) -> None:
    steps = ", ".join(f"{s:g}%" for s in result.policy["steps"])
    typer.echo(
        f"replay of {result.model}: v{result.candidate} against v{result.stable}, "
        f"{result.since:%Y-%m-%d %H:%M:%S} to {result.until:%Y-%m-%d %H:%M:%S} UTC, "
        f"{result.policy['strategy']} {steps} every {result.policy['interval_s']:g} s, "
        f"judge {result.policy['judge']} (predictions from the {result.predictions})"
    )
    shown = _changes(result)
    for v in shown:
        share = "—" if v.share is None else f"{100 * v.share:.1f}%"
        requests = v.evidence["requests"]
        typer.echo(
            f"{v.at:%H:%M:%S}  step {v.step + 1} ({v.weight:g}%, routed {share})  "
            f"{v.decision:<12} {v.action:<9} n={requests['canary']}/{requests['stable']}  "
            f"{v.explanation}"
        )
    if len(shown) < len(result.verdicts):
        typer.echo(f"({len(result.verdicts)} looks; only changes shown, --json for all)")
    fail = result.first("fail")
    when = f" at {result.decided_at:%Y-%m-%d %H:%M:%S}" if result.decided_at else ""
    typer.echo(
        f"would have: {result.outcome.replace('_', ' ')}{when}"
        + (f"; first fail at {fail:%H:%M:%S}" if fail else "")
    )


def _changes(result: Replay) -> list[ReplayVerdict]:
    """The looks where the step or the decision changed, and the last one."""
    shown, last = [], None
    for i, v in enumerate(result.verdicts):
        key = (v.step, v.decision, v.action)
        if key != last or i == len(result.verdicts) - 1:
            shown.append(v)
        last = key
    return shown


def report(
    name: Name,
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory to write into.")],
    rollout_id: Annotated[
        str | None, typer.Option("--rollout", help="Rollout id (default: the latest).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md (with PNGs) or html.")] = "md",
) -> None:
    """Write the report of NAME's rollout: weights, error rates and latency over time, and
    the verdicts with their evidence."""
    from conveyor.cli.context import command_context
    from conveyor.reports.rollout import gather, write_rollout_report

    record = gather(command_context(), name, rollout_id)
    path = write_rollout_report(record, out, fmt=fmt)  # type: ignore[arg-type]
    typer.echo(f"wrote {path}")
