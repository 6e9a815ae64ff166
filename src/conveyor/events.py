"""The model event stream: every registry and routing change, in one order, to follow.

Each change (a version registered, an alias moved, a status or tag set, a routing table
saved) writes its event in the transaction of the change; each event has an id that grows
in commit order, so a process that remembers the last id it saw and asks for the ones after
it sees every change exactly once, in order (see :mod:`conveyor.store.signals` for how the
order holds on PostgreSQL). A rollout controller, the alert rules and a dashboard follow it::

    after = last_event_id(ctx)  # or 0 for the whole history
    while running:
        for item in events_after(ctx, after):
            handle(item.event)
            after = item.id
        time.sleep(1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.errors import InvalidValue

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.store.entities import StreamEvent

PAGE = 500


def events_after(ctx: Context, after_id: int = 0, limit: int = PAGE) -> list[StreamEvent]:
    """Up to ``limit`` events with an id above ``after_id``, oldest first."""
    if limit < 1:
        raise InvalidValue(f"limit must be at least 1, got {limit}")
    return ctx.store.signals.events_after(after_id, limit)


def last_event_id(ctx: Context) -> int:
    """The newest event's id (0 if there is none): where a follower that wants only new
    changes starts."""
    return ctx.store.signals.last_event_id()
