"""The monitor loop: every rule on every version it watches, each pass, by one leader.

A pass (:meth:`MonitorLoop.tick`), while this process leads (scope ``monitor`` of
:class:`~conveyor.store.leader.Leadership`: one leader across every ``conveyor serve``
and ``conveyor monitor run``)::

    for each rule: the versions it watches now (watched_versions)
        for each version: observe (evaluate) -> store the gauges -> next state (lifecycle)
                          -> write it, with the notification it queues, in one transaction
                          -> queue the notification
    open alerts of a rule or version no longer watched -> resolved
    gauge rows not evaluated for GAUGE_TTL -> deleted

A rule that cannot be evaluated (its model is gone, no reference data, a metric its run
never logged) is logged once, not every pass, and leaves its alerts as they are; so does a
store that cannot be reached (:meth:`MonitorLoop.run` says so once, and once more when it is
back). Everything the loop knows is in the store, so a new leader carries on where the
last one stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConflictError, ConveyorError, StoreError
from conveyor.ids import utcnow
from conveyor.monitoring.alerts import lifecycle
from conveyor.monitoring.alerts.config import AlertRule, MonitorConfig, parse_model
from conveyor.monitoring.alerts.evaluate import Observation, evaluate, watched_versions
from conveyor.store.leader import Leadership

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.notify.events import Notification
    from conveyor.store.entities import Alert

__all__ = ["GAUGE_TTL", "LEAD", "MonitorLoop", "Notify", "PassReport"]

log = logging.getLogger("conveyor.monitor")

LEAD = "alerts"
GAUGE_TTL = timedelta(hours=1)
"""Gauge rows not evaluated again within this long leave ``/metrics`` (and the store)."""
Notify = Callable[["Notification", "Collection[str] | None"], None]
"""Where notifications go: a Dispatcher's ``notify(notification, targets)``."""


@dataclass(frozen=True)
class PassReport:
    """What one pass did: ``leader`` False when another process leads (nothing evaluated)."""

    leader: bool
    evaluated: int = 0
    open: list[Alert] = field(default_factory=list)  # after the pass
    notified: int = 0
    held_back: int = 0  # firing notifications the hourly cap kept for a later pass
    problems: dict[str, str] = field(default_factory=dict)  # rule -> why it was not evaluated

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.open if a.state == "firing"]


class MonitorLoop:
    """Evaluates the rules of ``config`` against ``ctx``'s data while it leads.

    ``clock`` is the time evaluations end at (tests give a manual one); ``notify`` receives
    each notification with the names of the targets its rule asked for (None: every one).
    Without ``notify`` (no ``notify:`` targets) alerts fire and resolve without
    notifications, and none is counted as sent.
    """

    def __init__(
        self,
        ctx: Context,
        config: MonitorConfig,
        *,
        notify: Notify | None = None,
        clock: Callable[[], datetime] = utcnow,
        leadership: Leadership | None = None,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.notify = notify
        self.clock = clock
        self.leadership = leadership or Leadership(ctx.store, scope="monitor")
        self._rules = {rule.name: rule for rule in config.alerts}
        self._said: dict[str, str] = {}  # what was logged last, per rule: each problem once
        self._scorers: dict[str, Any] = {}  # model -> Scorer (loads each version once)
        self._leading = False
        self._capped = False
        self._evaluated: dict[str, datetime] = {}  # rule -> its last pass (its interval)

    def tick(self) -> PassReport:
        """One pass over every rule (nothing when another process leads)."""
        leads = self.leadership.try_lead(LEAD)
        if leads != self._leading:
            self._leading = leads
            log.info("monitor loop %s", "leads" if leads else "stands by: another process leads")
        if not leads:
            return PassReport(False)
        now = self.clock()
        store = self.ctx.store.alerts
        budget = [self.config.max_notifications_per_hour]
        budget[0] -= store.notifications_since(now - timedelta(hours=1))
        opened = {a.fingerprint: a for a in store.open()}
        watched: set[str] = set()
        kept: set[str] = set()  # rules not evaluated this pass: their alerts stay as they are
        problems: dict[str, str] = {}
        counts = {"evaluated": 0, "notified": 0, "held_back": 0}
        for rule in self.config.alerts:
            last = self._evaluated.get(rule.name)
            if last is not None and (now - last).total_seconds() < rule.interval_s:
                kept.add(rule.name)  # not due yet: its alerts stay as they are
                continue
            self._evaluated[rule.name] = now
            why = self._rule_pass(rule, now, opened, watched, budget, counts)
            if why is not None:
                problems[rule.name] = why
                kept.add(rule.name)
        for print_, alert in opened.items():
            if print_ not in watched and alert.rule not in kept:
                self._unwatched(alert, now)
        store.prune_gauges(now - GAUGE_TTL)
        capped = counts["held_back"] > 0
        if capped and not self._capped:
            log.warning(
                "monitor loop: max_notifications_per_hour (%d) reached; firing notifications "
                "wait for a later pass",
                self.config.max_notifications_per_hour,
            )
        self._capped = capped
        return PassReport(True, counts["evaluated"], store.open(), counts["notified"],
                          counts["held_back"], problems)  # fmt: skip

    def run(self, stop: threading.Event, interval_s: float | None = None) -> None:
        """Pass every ``interval_s`` (the config's ``interval``) until ``stop`` is set; then
        give up the lead. A store outage is said once, and once more when it is over."""
        wait = interval_s if interval_s is not None else self.config.interval_s
        failing: str | None = None
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    if failing is not None:
                        log.warning("monitor loop: reached the store again")
                        failing = None
                except ConveyorError as exc:
                    if failing is None:
                        log.warning(
                            "monitor loop: cannot reach the store (%s); alerts wait, trying "
                            "again every %g s",
                            exc.message,
                            wait,
                        )
                    failing = exc.message
                stop.wait(wait)
        finally:
            try:
                self.leadership.close()
            except Exception:  # the store is gone: so is the lock
                log.debug("monitor loop: leadership released with the connection")

    def _rule_pass(
        self,
        rule: AlertRule,
        now: datetime,
        opened: dict[str, Alert],
        watched: set[str],
        budget: list[int],
        counts: dict[str, int],
    ) -> str | None:
        """Evaluate ``rule`` on each version it watches; the problem, if it could not."""
        model = parse_model(rule.model)[0]
        try:
            versions = watched_versions(self.ctx, rule.model)
        except StoreError:
            raise
        except ConveyorError as exc:
            return self._problem(rule.name, exc.message)
        problem = None
        for version in versions:
            print_ = lifecycle.fingerprint(rule.name, model, version)
            watched.add(print_)
            seen = self._observe(rule, model, version, now)
            if isinstance(seen, str):
                problem = seen
                continue
            counts["evaluated"] += 1
            self._keep_gauges(model, version, seen)
            step = lifecycle.step(
                opened.get(print_),
                seen,
                rule,
                model,
                version,
                now,
                repeat_s=self.config.repeat_s(rule),
                may_notify=self.notify is not None and budget[0] > 0,
            )
            if step.notify == lifecycle.FIRING:
                budget[0] -= 1
            held = step.alert is not None and step.alert.state == "firing" and step.notify is None
            if (
                held
                and self.notify is not None
                and _due(step.alert, now, self.config.repeat_s(rule))
            ):
                counts["held_back"] += 1
            counts["notified"] += self._apply(step, rule)
        if problem is None and rule.name in self._said:
            log.info("monitor rule %s: evaluated again", rule.name)
            del self._said[rule.name]
        return problem

    def _observe(
        self, rule: AlertRule, model: str, version: int, now: datetime
    ) -> Observation | str:
        """The observation, or the problem (logged once) that kept it from being made."""
        scorer = None
        if rule.when == "performance" and rule.metric == "roc_auc":
            from conveyor.monitoring.scoring import Scorer

            scorer = self._scorers.setdefault(model, Scorer(self.ctx, model))
        try:
            return evaluate(
                self.ctx,
                rule,
                model,
                version,
                now,
                max_features=self.config.max_features,
                scorer=scorer,
            )
        except StoreError:
            raise
        except ConveyorError as exc:
            return self._problem(rule.name, f"{model} v{version}: {exc.message}")
        except Exception as exc:  # a bug must not stop the other rules
            if self._said.get(rule.name) != repr(exc):
                log.exception("monitor rule %s on %s v%s failed", rule.name, model, version)
                self._said[rule.name] = repr(exc)
            return f"{type(exc).__name__}: {exc}"

    def _problem(self, rule: str, message: str) -> str:
        if self._said.get(rule) != message:
            log.warning("monitor rule %s is not evaluated: %s", rule, message)
            self._said[rule] = message
        return message

    def _keep_gauges(self, model: str, version: int, seen: Observation) -> None:
        alerts = self.ctx.store.alerts
        if seen.features is not None:
            alerts.put_features(model, version, seen.features)
        alerts.put_metrics(model, version, seen.metrics)

    def _apply(self, step: lifecycle.Step, rule: AlertRule | None) -> int:
        """Write ``step`` with its notification, then queue it; 1 if one was queued."""
        if step.alert is None:
            return 0
        try:
            self.ctx.store.alerts.save(step.alert, step.expect, step.notify)
        except ConflictError as exc:  # changed under us: another leader, for a moment
            log.warning("monitor loop: %s", exc.message)
            return 0
        if step.notify is None or self.notify is None:
            return 0
        targets = None if rule is None or rule.notify is None else rule.notify
        self.notify(lifecycle.notification(step.alert, step.notify, rule), targets)
        return 1

    def _unwatched(self, alert: Alert, now: datetime) -> None:
        """Resolve ``alert``: its rule is gone, or its version is no longer watched."""
        rule = self._rules.get(alert.rule)
        why = (
            f"{alert.model} v{alert.version} is no longer watched by rule {alert.rule}"
            if rule is not None
            else f"rule {alert.rule} is no longer in conveyor.yaml"
        )
        self._apply(lifecycle.resolve(alert, now, why), rule)


def _due(alert: Alert | None, now: datetime, repeat_s: float) -> bool:
    if alert is None:
        return False
    last = alert.last_notified_at
    return last is None or (now - last).total_seconds() >= repeat_s
