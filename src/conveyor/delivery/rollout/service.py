"""What a user asks of rollouts, one function each, taking the caller's Context.

``deploy`` records a rollout (status ``pending``); the controller then moves it along.
``pause``, ``resume``, ``promote``, ``abort`` and ``rollback`` change it from anywhere (the
CLI, the API) through the store: the controller reads the new status on its next pass.
Every traffic change records the context's principal; promotion and rollback move the
alias and the routing table in one transaction (:func:`move_all_traffic`).

Example::

    rollout = deploy(ctx, "churn", 4, DeployConfig(strategy="canary", steps=[5, 50, 100]))
    status(ctx, "churn").rollout.status      # "pending", then "progressing", ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.config import DeployConfig
from conveyor.delivery.deployments import get_table
from conveyor.errors import ConflictError, InvalidValue, NotFoundError
from conveyor.ids import new_id, utcnow
from conveyor.notify.events import EventKind, Notification
from conveyor.store.entities import ROLLOUT_ACTIVE, Deployment, Rollout, RolloutVerdict

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.delivery.tables import RoutingTable

Notify = Callable[[Notification], None]
"""Where rollout events go: a Dispatcher's ``notify``, or nothing."""


def quiet(_: Notification) -> None:
    """A :data:`Notify` that sends nothing (no ``notify:`` targets)."""


def announce(
    notify: Notify, kind: EventKind, rollout: Rollout, summary: str, **details: Any
) -> None:
    """Send one rollout event (never raises: the Dispatcher queues, retries and drops)."""
    details = {"rollout": rollout.id, "strategy": rollout.strategy, "step": rollout.step, **details}
    key = f"{kind}:{rollout.model}:{rollout.candidate}:{rollout.id}:{rollout.step}"
    notify(
        Notification(kind, rollout.model, str(rollout.candidate), summary, details, dedup_key=key)
    )


def steps_of(config: DeployConfig) -> tuple[float, ...]:
    """The candidate's traffic percentages, step by step, for the configured strategy."""
    if config.strategy == "canary":
        return tuple(config.steps)
    if config.strategy == "shadow":
        return (config.share * 100,)
    if config.strategy == "ab":
        stable, candidate = config.split
        return (100 * candidate / (stable + candidate),)
    return (100.0,)


def deploy(
    ctx: Context, model: str, version: int, config: DeployConfig, notify: Notify = quiet
) -> Rollout:
    """Start delivering ``model`` version ``version``; the controller takes it from here."""
    from conveyor.registry import Registry

    target = Registry(ctx).version(model, version)  # unknown model or version: NotFoundError
    if target.status in ("archived", "rejected"):
        raise ConflictError(
            f"{model}/{version} is {target.status} and cannot be deployed",
            hint="deploy a candidate or approved version",
        )
    stable = stable_version(ctx, model, config.alias)
    if stable == version:
        raise InvalidValue(
            f"{model}/{version} is already the stable version (@{config.alias})",
            hint="deploy a newer version, or roll back with `conveyor rollback`",
        )
    if stable is None and config.strategy != "bluegreen":
        raise InvalidValue(
            f"model {model!r} has no stable version to compare a {config.strategy} with "
            f"(no @{config.alias} and no routing table)",
            hint="deploy its first version with --strategy bluegreen",
        )
    now = utcnow()
    options = {
        "interval_s": config.interval_s,
        "duration_s": config.duration_s,
        "sticky": config.sticky,
        "inconclusive_intervals": config.inconclusive_intervals,
        "pretraffic": config.pretraffic,
        "alias": config.alias,
        "by_alias": routes_by_alias(ctx, model),
        "judge": config.judge,
    }
    rollout = ctx.store.rollouts.create(
        Rollout(
            new_id(),
            model,
            version,
            stable,
            config.strategy,
            steps_of(config),
            0,
            "pending",
            options,
            ctx.principal.name,
            now,
            now,
        )
    )
    announce(
        notify,
        "rollout.started",
        rollout,
        f"{rollout.strategy} of {model} v{version} started (stable v{stable})",
    )
    return rollout


def routes_by_alias(ctx: Context, model: str) -> bool:
    """Whether ``model``'s stored table names an alias (``champion=90 challenger=10``): a
    rollout then ends on ``ALIAS=100`` (promoted or rolled back), so the table goes on
    following the alias; its steps in between name versions (a rollout owns the traffic)."""
    stored = ctx.store.deployments.get(model)
    return stored is not None and bool(stored.alias_routes)


def stable_version(ctx: Context, model: str, alias: str = "champion") -> int | None:
    """The version serving today: the alias's, else the table's heaviest route."""
    held = ctx.store.registry.alias_version(model, alias)
    if held is not None:
        return held
    table = get_table(ctx.store, model)
    if table is None or not table.routes:
        return None
    return max(table.routes, key=lambda r: r.weight).version


def active(ctx: Context, model: str) -> Rollout:
    """``model``'s active rollout, or a NotFoundError that says so."""
    found = ctx.store.rollouts.active(model)
    if not found:
        raise NotFoundError(
            f"model {model!r} has no active rollout",
            hint=f"start one with `conveyor deploy {model} VERSION`",
        )
    return found[0]


def pause(ctx: Context, model: str, reason: str | None = None, notify: Notify = quiet) -> Rollout:
    """Hold the active rollout at its step: weights stay, no verdict moves it."""
    rollout = active(ctx, model)
    why = reason or f"paused by {ctx.principal.name or 'unknown'}"
    paused = ctx.store.rollouts.update(
        rollout.id, ["pending", "progressing"], {"status": "paused", "reason": why}
    )
    announce(notify, "rollout.paused", paused, f"{model} v{rollout.candidate} paused: {why}")
    return paused


def resume(ctx: Context, model: str) -> Rollout:
    """Go on from a pause; the step's evidence starts afresh (what happened while paused
    was never judged against this step's weights)."""
    rollout = active(ctx, model)
    status = "progressing" if rollout.step_started_at is not None else "pending"
    return ctx.store.rollouts.update(
        rollout.id, ["paused"], {"status": status, "step_started_at": utcnow(), "reason": None}
    )


def promote(ctx: Context, model: str, reason: str | None = None, notify: Notify = quiet) -> Rollout:
    """Send the active rollout's candidate all traffic now and move the alias onto it."""
    rollout = active(ctx, model)
    return finish_promoted(
        ctx, rollout, reason or f"promoted by hand by {ctx.principal.name}", notify
    )


def finish_promoted(ctx: Context, rollout: Rollout, reason: str, notify: Notify) -> Rollout:
    """Alias and table to the candidate (one transaction), then the rollout's status."""
    from conveyor.registry import Registry

    candidate = ctx.store.registry.get_version(rollout.model, rollout.candidate)
    if candidate.status == "candidate":
        Registry(ctx).set_status(rollout.model, rollout.candidate, "approved")
    move_all_traffic(
        ctx,
        rollout.model,
        rollout.candidate,
        rollout.options.get("alias", "champion"),
        "promote",
        reason,
        by_alias=bool(rollout.options.get("by_alias")),
    )
    done = ctx.store.rollouts.update(
        rollout.id, ROLLOUT_ACTIVE, {"status": "promoted", "reason": reason}
    )
    announce(
        notify, "rollout.promoted", done, f"{rollout.model} v{rollout.candidate} promoted: {reason}"
    )
    return done


def abort(ctx: Context, model: str, reason: str | None = None, notify: Notify = quiet) -> Rollout:
    """End the active rollout: all traffic back to its stable version, the alias unmoved."""
    rollout = active(ctx, model)
    why = reason or f"aborted by {ctx.principal.name or 'unknown'}"
    return end_rolled_back(ctx, rollout, "aborted", why, notify)


def end_rolled_back(
    ctx: Context, rollout: Rollout, status: str, reason: str, notify: Notify
) -> Rollout:
    """The candidate to 0% at once (the stable version takes everything, by its alias when
    the table routed by alias before the rollout), then the status."""
    from conveyor.delivery import traffic

    if rollout.stable is not None and rollout.step_started_at is not None:
        alias = rollout.options.get("alias", "champion")
        by_alias = rollout.options.get("by_alias") and (
            ctx.store.registry.alias_version(rollout.model, alias) == rollout.stable
        )
        traffic.set_traffic(ctx, rollout.model, {alias if by_alias else rollout.stable: 100.0})
        table = get_table(ctx.store, rollout.model)
        if table is not None and rollout.candidate in {s.version for s in table.shadows}:
            traffic.clear_shadow(ctx, rollout.model, rollout.candidate)
    done = ctx.store.rollouts.update(
        rollout.id, ROLLOUT_ACTIVE, {"status": status, "reason": reason}
    )
    announce(
        notify,
        "rollout.rolled_back",
        done,
        f"{rollout.model} v{rollout.candidate} {status.replace('_', ' ')}: {reason}",
    )
    return done


def rollback(
    ctx: Context,
    model: str,
    to: int | None = None,
    reason: str | None = None,
    alias: str = "champion",
    notify: Notify = quiet,
) -> int:
    """All of ``model``'s traffic to ``to`` (default: the last stable version) at once, the
    alias with it, the reason recorded; an active rollout ends ``rolled_back``. Returns the
    version now serving."""
    why = reason or f"rolled back by {ctx.principal.name or 'unknown'}"
    running = ctx.store.rollouts.active(model)
    target = (
        to if to is not None else last_stable(ctx, model, running[0] if running else None, alias)
    )
    by_alias = bool(running[0].options.get("by_alias")) if running else None
    if running:
        end_rolled_back(ctx, running[0], "rolled_back", why, notify)
    move_all_traffic(ctx, model, target, alias, "rollback", why, by_alias=by_alias)
    return target


def last_stable(ctx: Context, model: str, running: Rollout | None, alias: str = "champion") -> int:
    """During a rollout, its stable version; otherwise the version ``alias`` held before its
    current holder, from the alias history the registry records."""
    if running is not None and running.stable is not None:
        return running.stable
    current = ctx.store.registry.alias_version(model, alias)
    moves = [
        e
        for e in ctx.store.registry.events(model)
        if e.details.get("alias") == alias and e.after is not None
    ]
    for event in reversed(moves):
        if event.before is not None and event.before != str(current):
            return int(event.before)
    raise NotFoundError(
        f"model {model!r} has no earlier {alias} to roll back to "
        f"(@{alias} is {'v' + str(current) if current else 'unset'} and has no history before it)",
        hint=f"name the version: `conveyor rollback {model} --to VERSION`",
    )


def move_all_traffic(
    ctx: Context,
    model: str,
    version: int,
    alias: str,
    kind: str,
    reason: str,
    *,
    by_alias: bool | None = None,
) -> Deployment:
    """``version`` gets all traffic and ``alias``, in one store transaction, by ``ctx``'s
    principal. ``by_alias``: the table becomes ``alias=100`` and goes on following the
    alias, else ``version=100``; None: as the stored table does now."""
    table = get_table(ctx.store, model)
    revision = 0 if table is None else table.revision
    if by_alias is None:
        by_alias = routes_by_alias(ctx, model)
    return ctx.store.deployments.promote(
        model, version, alias, ctx.principal.name, revision, kind, reason, by_alias=by_alias
    )


@dataclass(frozen=True)
class RolloutStatus:
    """A model's latest rollout, its routing table and its latest verdict."""

    rollout: Rollout
    table: RoutingTable | None
    verdict: RolloutVerdict | None

    def as_dict(self) -> dict[str, Any]:
        r = self.rollout
        return {
            "id": r.id,
            "model": r.model,
            "candidate": r.candidate,
            "stable": r.stable,
            "strategy": r.strategy,
            "judge": r.options.get("judge", "conveyor"),
            "status": r.status,
            "step": r.step,
            "steps": list(r.steps),
            "weight": r.weight,
            "started_by": r.started_by,
            "reason": r.reason,
            "created_at": r.created_at.isoformat(),
            "step_started_at": r.step_started_at.isoformat() if r.step_started_at else None,
            "ended_at": r.ended_at.isoformat() if r.ended_at else None,
            "weights": {}
            if self.table is None
            else {
                str(route.version): round(100 * self.table.share(route.version), 2)
                for route in self.table.routes
            },
            "shadows": {}
            if self.table is None
            else {str(s.version): s.share for s in self.table.shadows},
            "verdict": None if self.verdict is None else _verdict_dict(self.verdict),
        }


def status(ctx: Context, model: str) -> RolloutStatus:
    """``model``'s active rollout, else its latest one."""
    from conveyor.registry import Registry

    Registry(ctx).model(model)
    found = ctx.store.rollouts.active(model) or ctx.store.rollouts.of_model(model, limit=1)
    if not found:
        raise NotFoundError(
            f"model {model!r} has never been rolled out",
            hint=f"start with `conveyor deploy {model} VERSION`",
        )
    verdicts = ctx.store.rollouts.verdicts(found[0].id)
    return RolloutStatus(found[0], get_table(ctx.store, model), verdicts[-1] if verdicts else None)


def history(ctx: Context, model: str) -> list[tuple[Rollout, list[RolloutVerdict]]]:
    """``model``'s rollouts, newest first, each with its verdicts."""
    from conveyor.registry import Registry

    Registry(ctx).model(model)
    return [(r, ctx.store.rollouts.verdicts(r.id)) for r in ctx.store.rollouts.of_model(model)]


def _verdict_dict(v: RolloutVerdict) -> dict[str, Any]:
    return {
        "step": v.step,
        "at": v.at.isoformat(),
        "decision": v.decision,
        "explanation": v.explanation,
        "evidence": v.evidence,
    }
