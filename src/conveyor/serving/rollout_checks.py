"""The rollout controller as a gateway or ``conveyor rollout run`` builds it: pre-traffic
checks on versions loaded the way the gateway loads them, and notifications to the
``notify:`` targets of ``conveyor.yaml``.

This lives in ``serving/`` because loading a version is the gateway's business; the
controller (``delivery/rollout``) only receives the check as a function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.errors import ConveyorError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from conveyor.config import OperationalGates, ProjectConfig
    from conveyor.context import Context
    from conveyor.delivery.pretraffic import PreTrafficReport
    from conveyor.delivery.rollout.controller import Controller, PreTrafficCheck
    from conveyor.notify import Dispatcher
    from conveyor.store.entities import Rollout


def pretraffic_check(budget: OperationalGates | None) -> PreTrafficCheck:
    """Load candidate and stable as the gateway does and run the pre-traffic checks; a
    candidate that cannot even load fails a ``load`` check (refused, not a crash)."""

    def check(ctx: Context, rollout: Rollout) -> PreTrafficReport:
        from conveyor.delivery.pretraffic import Check, PreTrafficReport
        from conveyor.registry import Registry
        from conveyor.serving.pool import ModelPool
        from conveyor.serving.pretraffic import pretraffic

        registry, pool = Registry(ctx), ModelPool()
        try:
            candidate = pool.load_uri(registry, ctx, f"{rollout.model}/{rollout.candidate}")
        except ConveyorError as exc:
            failed = Check("load", False, f"the candidate cannot be loaded: {exc}", {})
            return PreTrafficReport(rollout.model, rollout.candidate, (failed,))
        stable = None
        if rollout.stable is not None:
            stable = pool.load_uri(registry, ctx, f"{rollout.model}/{rollout.stable}")
        return pretraffic(candidate, stable=stable, budget=budget)

    return check


def build_controller(
    ctx: Context, routed: Callable[[str], None] = lambda model: None
) -> tuple[Controller, Dispatcher | None]:
    """A controller for ``ctx``'s project: its gates' latency budget, its ``notify:``
    targets (the dispatcher to close on shutdown, None without targets); ``routed`` is
    told each model whose rollout it moved (the gateway's watcher polls at once)."""
    from conveyor import settings
    from conveyor.delivery.rollout.controller import Controller
    from conveyor.notify import Dispatcher, build_notifiers

    config = _config(ctx)
    budget = config.gates.operational if config and config.gates else None
    dispatcher = None
    if config is not None and config.notify.targets:
        dispatcher = Dispatcher(build_notifiers(config.notify, settings.environment()))
        notify = dispatcher.notify
        return Controller(
            ctx, pretraffic=pretraffic_check(budget), notify=notify, routed=routed
        ), dispatcher
    return Controller(ctx, pretraffic=pretraffic_check(budget), routed=routed), dispatcher


def _config(ctx: Context) -> ProjectConfig | None:
    from conveyor.config import load_config
    from conveyor.project import CONFIG_FILE

    if ctx.root is None or not (ctx.root / CONFIG_FILE).exists():
        return None
    return load_config(ctx.root / CONFIG_FILE)


class ControllerThread:
    """The rollout controller in the background of ``conveyor serve`` (one per serve
    process; the per-model lock makes one of them lead across workers and replicas)."""

    def __init__(
        self,
        ctx: Context,
        poll_s: float = 5.0,
        serves: Callable[[], Iterable[str]] = tuple,
        routed: Callable[[str], None] = lambda model: None,
    ) -> None:
        """``serves``: the models the gateway routes, which its controller leads (claims);
        ``routed``: told each model whose rollout the controller moved (the gateway's
        watcher's ``poke``, so the gateway applies the change at once)."""
        import threading

        self._ctx, self._poll_s, self._serves, self._routed = ctx, poll_s, serves, routed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollout-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the pass in progress, give up leadership, close the notifications."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        controller, dispatcher = build_controller(self._ctx, self._routed)
        try:
            controller.run(self._stop, self._poll_s, claim=self._serves)
        finally:
            if dispatcher is not None:
                dispatcher.close(timeout_s=5)
