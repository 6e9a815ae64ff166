"""What the faces call: the monitor loop built from ``conveyor.yaml``, run once, run in the
background of ``conveyor serve``, and the alerts listed.

::

    loop, dispatcher = build_loop(ctx)            # conveyor monitor run
    report = run_once(ctx)                        # conveyor monitor run --once
    thread = MonitorThread.for_project(ctx)       # conveyor serve (None without rules)
    alerts = list_alerts(ctx, model="churn")      # conveyor monitor alerts
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.errors import ConfigError
from conveyor.ids import utcnow
from conveyor.monitoring.alerts.loop import MonitorLoop, PassReport

if TYPE_CHECKING:
    from conveyor.config import ProjectConfig
    from conveyor.context import Context
    from conveyor.notify import Dispatcher
    from conveyor.store.entities import Alert

__all__ = ["RECENT", "MonitorThread", "build_loop", "list_alerts", "project_config", "run_once"]

log = logging.getLogger("conveyor.monitor")

RECENT = timedelta(hours=24)
"""How far back ``conveyor monitor alerts`` shows resolved alerts without ``--all``."""
CLOSE_S = 10.0


def project_config(ctx: Context) -> ProjectConfig | None:
    """The project's ``conveyor.yaml``, or None outside a project."""
    from conveyor.config import load_config
    from conveyor.project import CONFIG_FILE

    if ctx.root is None or not (ctx.root / CONFIG_FILE).exists():
        return None
    return load_config(ctx.root / CONFIG_FILE)


def build_loop(ctx: Context) -> tuple[MonitorLoop, Dispatcher | None]:
    """The loop of ``ctx``'s project and the dispatcher of its ``notify:`` targets (None
    without targets; close it when done). ConfigError without alert rules, or for a target
    whose secret variable is not set."""
    from conveyor import settings
    from conveyor.notify import Dispatcher, build_notifiers

    config = project_config(ctx)
    if config is None or not config.monitor.alerts:
        where = "no conveyor.yaml here" if config is None else "conveyor.yaml has no monitor.alerts"
        raise ConfigError(
            f"nothing to monitor: {where}",
            hint="add rules under monitor: alerts: (see docs/monitoring.md#alerts)",
        )
    dispatcher = None
    if config.notify.targets:
        dispatcher = Dispatcher(build_notifiers(config.notify, settings.environment()))
        return MonitorLoop(ctx, config.monitor, notify=dispatcher.notify), dispatcher
    return MonitorLoop(ctx, config.monitor), None


def run_once(ctx: Context) -> PassReport:
    """One pass (if no other process leads; else the alerts the leader keeps), with its
    notifications sent (up to ten seconds) before it returns."""
    loop, dispatcher = build_loop(ctx)
    try:
        report = loop.tick()
        if not report.leader:
            names = {rule.name for rule in loop.config.alerts}
            report = PassReport(False, open=[a for a in ctx.store.alerts.open() if a.rule in names])
        return report
    finally:
        loop.leadership.close()
        if dispatcher is not None:
            dispatcher.close(timeout_s=CLOSE_S)


def list_alerts(
    ctx: Context,
    *,
    model: str | None = None,
    everything: bool = False,
    now: datetime | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Open alerts and those resolved in the last :data:`RECENT` (every one stored, newest
    first, with ``everything``), of ``model`` only if given."""
    since = None if everything else (now or utcnow()) - RECENT
    return ctx.store.alerts.recent(model=model, since=since, limit=limit)


class MonitorThread:
    """The monitor loop in the background of ``conveyor serve`` (one per serve process; the
    lock makes one of them lead across workers, replicas and ``conveyor monitor run``)."""

    def __init__(self, loop: MonitorLoop, dispatcher: Dispatcher | None) -> None:
        self.loop = loop
        self._dispatcher = dispatcher
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor-loop", daemon=True)

    @classmethod
    def for_project(cls, ctx: Context) -> MonitorThread | None:
        """The thread for ``ctx``'s rules; None when the project has none."""
        config = project_config(ctx)
        if config is None or not config.monitor.alerts:
            return None
        return cls(*build_loop(ctx))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = CLOSE_S) -> None:
        """Finish the pass in progress, give up the lead, send what is queued."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._dispatcher is not None:
            self._dispatcher.close(timeout_s=5)

    def _run(self) -> None:
        try:
            self.loop.run(self._stop)
        except Exception:  # never silently: the gateway serves on without its alerts
            log.exception("monitor loop stopped")
