"""``conveyor deploy``, ``conveyor rollback`` and ``conveyor rollout ...``: progressive
delivery of a registered version, followed from the terminal."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from conveyor.cli.rollout_display import LiveFollow
    from conveyor.config import DeployConfig
    from conveyor.context import Context
    from conveyor.delivery.rollout.service import RolloutStatus

app = typer.Typer(
    name="rollout",
    help="Rollouts: status, pause, resume, promote, abort, history, and the controller.",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Name = Annotated[str, typer.Argument(help="Registered model name.")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why, recorded with the change.")]
FINAL_EXIT = {"promoted": 0, "rolled_back": 1, "refused": 1, "aborted": 1}


def register(root: typer.Typer) -> None:
    """Add ``deploy``, ``rollback`` and the ``rollout`` group to ``root``."""
    root.command("deploy")(deploy)
    root.command("rollback")(rollback)
    from conveyor.cli import rollout_replay_cmds

    app.command("replay")(rollout_replay_cmds.replay)
    app.command("report")(rollout_replay_cmds.report)
    root.add_typer(app)


def _context() -> Context:
    from conveyor.cli.context import command_context

    return command_context()


def deploy(
    name: Name,
    version: Annotated[int, typer.Argument(help="The version to deliver.", min=1)],
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="canary | shadow | ab | bluegreen.")
    ] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="canary: e.g. 5,25,50,100.")] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help="canary: time held per step, e.g. 2m.")
    ] = None,
    share: Annotated[float | None, typer.Option("--share", help="shadow: e.g. 0.2.")] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="shadow, ab: how long, e.g. 1h.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="ab: stable,candidate, e.g. 50,50.")
    ] = None,
    sticky: Annotated[
        str | None, typer.Option("--sticky", help="Keep a user on one version: a header.")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="conveyor (default) | kayenta | flagger: who judges steps."),
    ] = None,
    skip_pretraffic: Annotated[
        bool, typer.Option("--skip-pretraffic", help="No smoke/compatibility/load checks.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow it; exit 0 promoted, 1 rolled back/refused.")
    ] = False,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between looks.", min=0.05)] = 1.0,
) -> None:
    """Deliver NAME version VERSION progressively (defaults: the deploy: block, else canary
    5,25,50,100 every 2m), after pre-traffic checks."""
    from conveyor.delivery.rollout import service

    ctx = _context()
    overrides: dict[str, Any] = {
        "strategy": strategy,
        "steps": _numbers(steps, "--steps"),
        "interval": interval,
        "share": share,
        "duration": duration,
        "split": _numbers(split, "--split"),
        "sticky": sticky,
        "judge": judge,
        "pretraffic": False if skip_pretraffic else None,
    }
    config = _deploy_config(ctx, {k: v for k, v in overrides.items() if v is not None})
    rollout = service.deploy(ctx, name, version, config)
    steps_text = ", ".join(f"{s:g}%" for s in rollout.steps)
    typer.echo(
        f"rollout {rollout.id}: {rollout.strategy} of {name} v{version} "
        f"(stable v{rollout.stable}), steps {steps_text}, judge {config.judge}"
    )
    if wait:
        raise typer.Exit(_follow(ctx, name, poll))


def _numbers(text: str | None, option: str) -> list[float] | None:
    from conveyor.errors import InvalidValue

    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise InvalidValue(
            f"{option} {text!r} is not comma-separated numbers", hint="e.g. 5,25,50,100"
        ) from None


def _deploy_config(ctx: Context, overrides: dict[str, Any]) -> DeployConfig:
    """The project's deploy: block with the command line's options on top."""
    from pydantic import ValidationError

    from conveyor.config import DeployConfig
    from conveyor.errors import InvalidValue
    from conveyor.serving.rollout_checks import _config

    project = _config(ctx)
    base = project.deploy.model_dump() if project is not None else {}
    try:
        return DeployConfig.model_validate({**base, **overrides})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidValue(
            f"deploy options: {problems}", hint="see `conveyor deploy --help`"
        ) from None


def _follow(ctx: Context, name: str, poll: float) -> int:
    """Print each change of the rollout until it ends; drive it meanwhile if no other
    controller leads the model (a CI job needs no running gateway for that)."""
    from conveyor.delivery.rollout import service
    from conveyor.serving.rollout_checks import build_controller

    controller, dispatcher = build_controller(ctx)
    live = _live_display()
    seen: tuple[Any, ...] = ()
    try:
        while True:
            controller.tick()
            current = service.status(ctx, name)
            key = (
                current.rollout.status,
                current.rollout.step,
                current.verdict and current.verdict.at,
            )
            if live is not None:
                live.show(current)  # every look: the elapsed time moves on
            elif key != seen:
                typer.echo(_line(current))
            seen = key
            if current.rollout.status in FINAL_EXIT:
                return FINAL_EXIT[current.rollout.status]
            time.sleep(poll)
    finally:
        if live is not None:
            live.__exit__(None, None, None)
        controller.leadership.close()
        if dispatcher is not None:
            dispatcher.close(timeout_s=10)


def _live_display() -> LiveFollow | None:
    """A live panel on a terminal; None (plain lines) when stdout is not one."""
    if not sys.stdout.isatty():
        return None
    from conveyor.cli.rollout_display import LiveFollow

    return LiveFollow().__enter__()


def _line(current: RolloutStatus) -> str:
    r, v = current.rollout, current.verdict
    weights = current.as_dict()["weights"]
    shown = " ".join(f"v{k}={w:g}%" for k, w in weights.items()) or "no table"
    verdict = "" if v is None else f"  verdict {v.decision}: {v.explanation}"
    step = f"step {r.step + 1}/{len(r.steps)} ({r.weight:g}%)"
    reason = f"  ({r.reason})" if r.reason else ""  # ended, or paused: resume clears it
    return f"{r.status:<12} {step}  {shown}{verdict}{reason}"


def rollback(
    name: Name,
    to: Annotated[
        int | None, typer.Option("--to", help="The version to go back to.", min=1)
    ] = None,
    reason: Reason = None,
) -> None:
    """Send all of NAME's traffic to its last stable version (or --to) at once."""
    from conveyor.delivery.rollout import service

    target = service.rollback(_context(), name, to=to, reason=reason)
    typer.echo(f"{name}: all traffic to v{target}, @champion moved to it")


@app.command("status")
def status(
    name: Name,
    as_json: AsJson = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until it ends.")] = False,
) -> None:
    """The rollout's step, weights and latest verdict with its evidence."""
    from conveyor.cli.context import print_json
    from conveyor.delivery.rollout import service

    ctx = _context()
    while True:
        current = service.status(ctx, name)
        if as_json:
            print_json(current.as_dict())
        else:
            _print_status(current)
        if not watch or not current.rollout.active:
            return
        time.sleep(2)


def _print_status(current: RolloutStatus) -> None:
    data = current.as_dict()
    typer.echo(
        f"{data['model']}  rollout {data['id']}  {data['strategy']} of v{data['candidate']} "
        f"(stable v{data['stable']})  judge {data['judge']}  started by {data['started_by']}"
    )
    typer.echo(_line(current))
    verdict = data["verdict"]
    for metric in (verdict or {}).get("evidence", {}).get("metrics", []):
        typer.echo(
            f"  {metric['metric']:<12} {metric['decision']:<12} n={metric['n_canary']}/"
            f"{metric['n_stable']} (min {metric['min_sample']})  {metric['explanation']}"
        )


def _change(action: str, name: str, reason: str | None) -> None:
    from conveyor.delivery.rollout import service

    ctx = _context()
    if action == "resume":
        done = service.resume(ctx, name)
    else:
        done = getattr(service, action)(ctx, name, reason)
    typer.echo(f"rollout {done.id} of {name}: {done.status}")


@app.command("pause")
def pause(name: Name, reason: Reason = None) -> None:
    """Hold the rollout at its step (weights stay)."""
    _change("pause", name, reason)


@app.command("resume")
def resume(name: Name) -> None:
    """Go on from a pause (the step's evidence starts afresh)."""
    _change("resume", name, None)


@app.command("promote")
def promote(name: Name, reason: Reason = None) -> None:
    """Give the candidate all traffic and @champion now."""
    _change("promote", name, reason)


@app.command("abort")
def abort(name: Name, reason: Reason = None) -> None:
    """End the rollout: all traffic back to the stable version."""
    _change("abort", name, reason)


@app.command("history")
def history(name: Name, as_json: AsJson = False) -> None:
    """Every rollout of NAME, newest first, with its verdicts."""
    from conveyor.cli.context import print_json
    from conveyor.delivery.rollout import service

    found = service.history(_context(), name)
    if as_json:
        print_json(
            [
                {"rollout": service.RolloutStatus(r, None, None).as_dict(), "verdicts": len(v)}
                for r, v in found
            ]
        )
        return
    for r, verdicts in found:
        typer.echo(
            f"{r.created_at:%Y-%m-%d %H:%M}  {r.id}  {r.strategy:<9} v{r.candidate} over "
            f"v{r.stable}  {r.status:<11} step {r.step + 1}/{len(r.steps)}  "
            f"{len(verdicts)} verdict(s)  by {r.started_by}  {r.reason or ''}".rstrip()
        )


@app.command("run")
def run(
    poll: Annotated[float, typer.Option("--poll", help="Seconds between passes.", min=0.05)] = 5.0,
) -> None:
    """Run the rollout controller alone (conveyor serve runs one by default); Ctrl-C stops."""
    import signal

    from conveyor.serving.rollout_checks import build_controller

    controller, dispatcher = build_controller(_context())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sys.stderr.write(f"rollout controller running (every {poll:g} s)\n")
    try:
        controller.run(stop, poll)
    except KeyboardInterrupt:
        stop.set()
    finally:
        if dispatcher is not None:
            dispatcher.close(timeout_s=10)
