"""The rollout controller: a step machine over the rollouts in the store.

Each pass, for every active rollout of a model it leads (:mod:`conveyor.store.leader`), the
controller reads the rollout and does the one thing its status calls for::

    pending ──pre-traffic fails──▶ refused            (never any traffic)
       │ checks pass (or none): step 0's weights
       ▼
    progressing ──fail──▶ rolled_back                  (candidate to 0% at once)
       │  pass and the interval held: next step; the last (100%) promotes
       │  inconclusive for `inconclusive_intervals` intervals (no traffic included),
       │  or ab/shadow over: paused
       ▼
    promoted                                           (alias and table, one transaction)

Everything it knows is in the store (status, step, when the step began), so a controller
killed anywhere resumes on the next pass of whichever controller leads the model next:
each transition is written after the traffic change it stands for, and every traffic
change is idempotent, so redoing the last one is harmless.

Verdicts judge the candidate against the stable version over the windows since the step's
analysis began (:func:`.evidence.step_verdict`): the same span, the same traffic mix. The
analysis, and the interval a step is held, begin at the candidate's first routed window, its
warm-up window left out when it was cold (:mod:`.stepping`); until then the step is waiting
for traffic. Where labels arrived or the candidate runs in shadow, accuracy and agreement
with the primary (:mod:`.quality`) can fail a step but never hold one back. What follows a
verdict is :func:`.stepping.action`, which replay applies too.

**One model's failure stays its own.** A store error aborts the whole pass (every rollout
stays where it is; :class:`.outage.OutageLog`). Any other error in one model's part of the
pass (its prediction log or labels unreadable, its judge raising, a bug) is that rollout's
alone: recorded on it as an inconclusive verdict whose evidence holds the error, logged per
model without flooding (:class:`.outage.ModelFaults`), and, like any inconclusive step, held
for ``inconclusive_intervals`` intervals from the step's start, then paused with a
notification. The other models' rollouts go on in the same pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.delivery import traffic
from conveyor.delivery.rollout import service
from conveyor.delivery.rollout.evidence import judge_windows, step_verdict
from conveyor.delivery.rollout.outage import ModelFaults, OutageLog, said
from conveyor.delivery.rollout.quality import Quality, read_quality
from conveyor.delivery.rollout.stepping import (
    AnalysisStart,
    action,
    analysis_start,
    is_last,
    next_window,
)
from conveyor.errors import ConflictError, StoreError
from conveyor.ids import utcnow
from conveyor.monitoring.outcomes import WINDOW_S, outcomes
from conveyor.store.entities import OutcomeWindow, Rollout, RolloutVerdict
from conveyor.store.leader import Leadership

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.delivery.analysis.judge import Window
    from conveyor.delivery.pretraffic import PreTrafficReport

log = logging.getLogger(__name__)

PreTrafficCheck = Callable[["Context", Rollout], "PreTrafficReport"]
"""Runs the pre-traffic checks of a rollout's candidate (see ``serving/rollout_checks.py``)."""
POLL_S = 5.0
QUALITY_REFRESH_S = 30.0
"""How often a step's labels and shadow agreement are read again from the artifact store:
labels come late anyway, and the read (prediction log joined to labels) is the slow part."""


class Controller:
    """Moves every active rollout it leads one step of the machine per :meth:`tick`.

    ``clock`` is the time verdicts are judged up to (tests give a manual one);
    ``pretraffic`` runs the checks before any traffic (None: a rollout asking for them is
    refused, since no check must never mean a pass). ``routed`` is told the model whose
    rollout moved (a new step, a rollback, a promotion...) once the change is committed: a
    gateway in the same process polls its routing tables at once rather than up to two
    seconds later, so a rollback takes the canary's share away at once.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        pretraffic: PreTrafficCheck | None = None,
        notify: service.Notify = service.quiet,
        clock: Callable[[], datetime] = utcnow,
        leadership: Leadership | None = None,
        routed: Callable[[str], None] = lambda model: None,
    ) -> None:
        self.ctx = ctx
        self.routed = routed
        self.pretraffic = pretraffic
        self.notify = notify
        self.clock = clock
        self.leadership = leadership or Leadership(ctx.store)
        self.faults = ModelFaults(log, clock)
        # (rollout id, step) -> (read at, counts or the read's error): one read per step per
        # QUALITY_REFRESH_S, a failed one included
        self._quality: dict[tuple[str, int], tuple[datetime, Quality | Exception]] = {}

    def tick(self) -> list[Rollout]:
        """One pass over the active rollouts; returns them as they are after it. A store
        error aborts it; any other error is its model's alone (:meth:`pass_over`)."""
        moved, passed = [], set()
        for rollout in self.ctx.store.rollouts.active():
            if not self.leadership.try_lead(rollout.model):
                continue  # another controller leads this model
            done = self.pass_over(rollout)
            if done is not None:
                moved.append(done)
                if (done.status, done.step) != (rollout.status, rollout.step):
                    self.routed(rollout.model)
            passed.add(rollout.model)
        for model in self.faults.failing() - passed:
            self.faults.passed(model, "ended or led elsewhere")
        return moved

    def pass_over(self, rollout: Rollout) -> Rollout | None:
        """:meth:`advance` ``rollout``, a failure kept to it: a store error propagates (the
        whole pass waits for the store), a conflict (a user paused or aborted it meanwhile)
        is left for the next pass (None), any other error is recorded on the rollout
        (:meth:`unjudged`) and the rollout returned as it is after that."""
        try:
            return self._attempt(rollout)
        except ConflictError as exc:
            log.info("rollout %s changed under the controller: %s", rollout.id, exc)
            return None

    def _attempt(self, rollout: Rollout) -> Rollout:
        try:
            done = self.advance(rollout)
        except (StoreError, ConflictError):
            raise
        except Exception as exc:
            self.faults.failed(rollout.model, rollout.id, exc)
            return self.unjudged(rollout, exc)
        self.faults.passed(rollout.model, done.status)
        return done

    def run(
        self,
        stop: threading.Event,
        poll_s: float = POLL_S,
        claim: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """Tick every ``poll_s`` seconds until ``stop`` is set; then give up leadership.

        ``claim`` names models to lead each pass even with no rollout active: a gateway
        claims the models it serves, so a rollout started beside it (``deploy --wait``)
        is driven, and its pre-traffic checks run, in the gateway, whoever looks first.
        """
        outage = OutageLog(log, self.clock, poll_s=poll_s)
        try:
            while not stop.is_set():
                self.run_once(outage, claim)
                stop.wait(poll_s)
        finally:
            self.leadership.close()

    def run_once(self, outage: OutageLog, claim: Callable[[], Iterable[str]] = tuple) -> None:
        """One pass of :meth:`run`: claim, tick; a failure of the whole pass (the store
        unreachable) is told to ``outage``, which logs its start, a reminder a minute and its
        end, not every pass. Whatever it was, the thread goes on to the next pass."""
        try:
            for model in claim():
                self.leadership.try_lead(model)
            self.tick()
        except Exception as exc:  # the store unreachable, or a bug: try again next pass
            outage.failed(exc)
            return
        outage.succeeded()

    def advance(self, rollout: Rollout) -> Rollout:
        """Do what ``rollout``'s status calls for now."""
        if rollout.status in ("pending", "pretraffic"):
            return self._start(rollout)
        if rollout.status == "progressing":
            return self._judge(rollout)
        return rollout  # paused: a human decides

    def _start(self, rollout: Rollout) -> Rollout:
        if rollout.options.get("pretraffic", True):
            rollout = self._update(rollout, {"status": "pretraffic"})
            refusal = self._pretraffic(rollout)
            if refusal is not None:
                return refusal
        self._still_leading(rollout, "its pre-traffic checks")
        if rollout.strategy == "bluegreen":
            return service.finish_promoted(
                self.ctx, rollout, "blue-green: switched after pre-traffic checks", self.notify
            )
        self._apply(rollout, rollout.step)
        return self._update(rollout, {"status": "progressing", "step_started_at": self.clock()})

    def _pretraffic(self, rollout: Rollout) -> Rollout | None:
        """None when the checks pass; else the rollout, refused, with the report as evidence."""
        if self.pretraffic is None:
            report = None
            passed, summary, evidence = False, "no pre-traffic checker is configured", {}
        else:
            report = self.pretraffic(self.ctx, rollout)
            passed, evidence = report.passed, report.as_dict()
            failed = [c for c in report.checks if not c.passed]
            summary = "; ".join(f"{c.name}: {c.message}" for c in failed) or "all checks pass"
        self._record(rollout, "pass" if passed else "fail", f"pre-traffic: {summary}", evidence)
        if passed:
            return None
        done = self._update(rollout, {"status": "refused", "reason": f"pre-traffic: {summary}"})
        service.announce(
            self.notify,
            "rollout.rolled_back",
            done,
            f"{rollout.model} v{rollout.candidate} refused before any traffic: {summary}",
            report=evidence,
        )
        return done

    def _judge(self, rollout: Rollout) -> Rollout:
        now, began = self.clock(), rollout.step_started_at or self.clock()
        shadow = rollout.strategy == "shadow"
        start, windows = (None, []) if shadow else self.windows(rollout, began, now)
        quality = self.quality(rollout, began, now)
        judge = str(rollout.options.get("judge", "conveyor"))
        verdict, evidence = step_verdict(
            judge, rollout.strategy, rollout.candidate, start, windows, quality, now
        )
        self._record(rollout, verdict.decision, verdict.explanation, evidence)
        since = None if start is None else start.since
        held = None if since is None else max(0.0, (now - since).total_seconds())
        return self._follow(rollout, verdict.decision, verdict.explanation, held, now)

    def unjudged(self, rollout: Rollout, exc: Exception) -> Rollout:
        """``rollout``'s pass failed with ``exc`` (not the store's): an inconclusive verdict
        that says why, its evidence the judge and the error; then what follows any
        inconclusive verdict, its time counted from the step's start (no analysis began)."""
        judge = str(rollout.options.get("judge", "conveyor"))
        before = rollout.status in ("pending", "pretraffic")
        why = f"{'pre-traffic: could not start' if before else 'could not judge'}: {said(exc)}"
        error = {"type": type(exc).__name__, "message": str(exc)}
        self._record(rollout, "inconclusive", why, {"judge": judge, "error": error})
        if rollout.status != "progressing":
            return rollout  # no traffic moved yet: tried again next pass
        return self._follow(rollout, "inconclusive", why, None, self.clock())

    def _follow(
        self, rollout: Rollout, decision: str, explanation: str, held: float | None, now: datetime
    ) -> Rollout:
        """Do what :func:`.stepping.action` says follows ``decision``; ``held``: seconds since
        the step's analysis began (None while waiting for traffic, or unjudged)."""
        waited = (now - (rollout.step_started_at or now)).total_seconds()
        options = rollout.options
        todo = action(
            rollout.strategy,
            decision,
            held_s=held,
            waited_s=waited,
            interval_s=float(options.get("interval_s", 120)),
            inconclusive_intervals=int(options.get("inconclusive_intervals", 3)),
            duration_s=float(options.get("duration_s", 3600)),
            last=is_last(rollout.steps, rollout.step),
        )
        if todo == "roll back":
            why = f"step {rollout.step + 1}: {explanation}"
            return service.end_rolled_back(self.ctx, rollout, "rolled_back", why, self.notify)
        if todo in ("next step", "promote"):
            return self._next_step(rollout)
        if todo == "finished":
            return self._finish(rollout, waited if rollout.strategy == "shadow" else held or 0.0)
        if todo == "pause":
            lasted = waited if held is None else held
            why = f"inconclusive for {lasted:.0f} s at {rollout.weight:g}%: {explanation}"
            return service.pause(self.ctx, rollout.model, why, self.notify)
        return rollout

    def windows(
        self, rollout: Rollout, since: datetime, until: datetime
    ) -> tuple[AnalysisStart, list[Window]]:
        """Where the step begun at ``since`` starts being judged (:mod:`.stepping`), and the
        canary and stable outcome windows wholly inside ``[start, until)``, as judge windows
        (none while waiting for traffic)."""
        first = next_window(since) - timedelta(seconds=WINDOW_S)  # and the one before

        def read(version: int | None) -> list[OutcomeWindow]:
            if version is None:
                return []
            return outcomes(self.ctx, rollout.model, first, until, version=version)

        canary = read(rollout.candidate)
        start = analysis_start(canary, since)
        if start.since is None:
            return start, []
        judged = start.since
        stable = [w for w in read(rollout.stable) if w.start >= judged]
        canary = [w for w in canary if w.start >= judged]
        return start, judge_windows(canary, stable, rollout.weight / 100)

    def quality(self, rollout: Rollout, since: datetime, until: datetime) -> Quality:
        """The step's label and agreement counts, read again at most every
        ``QUALITY_REFRESH_S`` seconds (a whole re-read, not a cursor: a late label belongs
        to a prediction read long ago). A read that failed fails again until it is retried,
        so a damaged file is not re-read every pass."""
        key = (rollout.id, rollout.step)
        cached = self._quality.get(key)
        if cached is not None and (until - cached[0]).total_seconds() < QUALITY_REFRESH_S:
            if isinstance(cached[1], Exception):
                raise cached[1]
            return cached[1]
        self._quality = {k: v for k, v in self._quality.items() if k[0] != rollout.id}
        try:
            found = read_quality(
                self.ctx.artifacts_url,
                rollout.model,
                rollout.candidate,
                rollout.stable,
                since,
                until,
            )
        except Exception as exc:
            self._quality[key] = (until, exc)
            raise
        self._quality[key] = (until, found)
        return found

    def _finish(self, rollout: Rollout, ran: float) -> Rollout:
        """A shadow or A/B test that ran its duration: paused for a human (a shadow's copy
        stops)."""
        if rollout.strategy == "shadow":
            traffic.clear_shadow(self.ctx, rollout.model, rollout.candidate)
        what = "shadow" if rollout.strategy == "shadow" else "A/B test"
        why = f"{what} finished after {ran:.0f} s: promote or abort it"
        return service.pause(self.ctx, rollout.model, why, self.notify)

    def _next_step(self, rollout: Rollout) -> Rollout:
        following = rollout.step + 1
        if is_last(rollout.steps, rollout.step):
            why = f"every step passed ({', '.join(f'{s:g}%' for s in rollout.steps)})"
            return service.finish_promoted(self.ctx, rollout, why, self.notify)
        self._apply(rollout, following)
        moved = self._update(rollout, {"step": following, "step_started_at": self.clock()})
        service.announce(
            self.notify,
            "rollout.step_passed",
            rollout,
            f"{rollout.model} v{rollout.candidate} passed {rollout.weight:g}%, "
            f"now at {moved.weight:g}%",
        )
        return moved

    def _still_leading(self, rollout: Rollout, during: str) -> None:
        """ConflictError (the pass leaves the rollout to the next) if this controller lost
        the model's lead while it worked: pre-traffic checks take seconds, and a PostgreSQL
        connection dropped meanwhile ends the advisory lock, so another controller may lead
        now; two writing one table is what leadership exists to prevent."""
        if not self.leadership.try_lead(rollout.model):
            raise ConflictError(
                f"this controller lost the lead of {rollout.model} during {during}; "
                "the controller that leads it now goes on"
            )

    def _apply(self, rollout: Rollout, step: int) -> None:
        """The step's weights (idempotent: applying them twice changes nothing)."""
        assert rollout.stable is not None or rollout.strategy == "bluegreen"
        weight = rollout.steps[step]
        sticky = rollout.options.get("sticky")
        if rollout.strategy == "shadow":
            traffic.set_traffic(self.ctx, rollout.model, {rollout.stable: 100.0}, sticky=sticky)  # type: ignore[dict-item]
            traffic.set_shadow(self.ctx, rollout.model, rollout.candidate, weight / 100)
            return
        weights = {rollout.stable: 100.0 - weight, rollout.candidate: weight}
        traffic.set_traffic(self.ctx, rollout.model, weights, sticky=sticky)  # type: ignore[arg-type]

    def _update(self, rollout: Rollout, changes: dict[str, object]) -> Rollout:
        return self.ctx.store.rollouts.update(rollout.id, [rollout.status], changes)

    def _record(self, rollout: Rollout, decision: str, why: str, evidence: dict) -> None:  # type: ignore[type-arg]
        verdict = RolloutVerdict(rollout.id, rollout.step, self.clock(), decision, why, evidence)
        self.ctx.store.rollouts.add_verdict(verdict)


__all__ = ["Controller", "PreTrafficCheck"]
