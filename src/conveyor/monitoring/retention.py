"""Retention of the gateway's windows: outcome windows and live profiles older than a cut.

Both tables are append-only and grow with traffic (a live profile row is up to ~85 KB: 30
features, one worker, one version, one minute, so ~120 MB a day per worker and version),
and nothing reads them past the longest window a rule, a rollout or a report asks for. So
``conveyor monitor prune --older-than 30d`` (from cron, or by hand) deletes the rows whose
window started before ``now - older_than``, in one transaction::

    pruned = prune(ctx, timedelta(days=30))
    pruned.deleted  # {"outcome_windows": 1204, "profile_windows": 86400}

The prediction log and the labels are files in the artifact store, kept apart: they are
row data a team may have to keep for audits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conveyor.errors import InvalidValue
from conveyor.ids import utcnow

if TYPE_CHECKING:
    from conveyor.context import Context

MIN_AGE = timedelta(days=1)
"""Never less: a running rollout's step and an alert rule's window read the recent windows."""


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` removed (or, with ``dry_run``, would remove)."""

    before: datetime
    deleted: dict[str, int]
    dry_run: bool

    def to_dict(self) -> dict[str, object]:
        return {"before": self.before.isoformat(), "deleted": self.deleted, "dry_run": self.dry_run}


def prune(
    ctx: Context, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None
) -> Pruned:
    """Delete outcome and profile windows that started more than ``older_than`` ago."""
    if older_than < MIN_AGE:
        raise InvalidValue(
            f"--older-than {older_than} would delete windows that rollouts and alert rules "
            f"still read; it must be at least {MIN_AGE.days} day",
            hint="keep at least as long as your longest alert rule window, e.g. --older-than 30d",
        )
    longest = _longest_rule_window(ctx)
    if longest is not None and older_than < longest[1]:
        raise InvalidValue(
            f"--older-than {older_than} is shorter than the window of alert rule "
            f"{longest[0]!r} ({longest[1]}) in conveyor.yaml: it would read pruned windows",
            hint=f"keep at least {longest[1]}",
        )
    before = (now or utcnow()) - older_than
    return Pruned(before, ctx.store.signals.prune(before, dry_run=dry_run), dry_run)


def _longest_rule_window(ctx: Context) -> tuple[str, timedelta] | None:
    """The alert rule of conveyor.yaml that reads furthest back (its window and ``for:``)."""
    from conveyor.monitoring.alerts.service import project_config

    config = project_config(ctx)
    if config is None or not config.monitor.alerts:
        return None
    rule = max(config.monitor.alerts, key=lambda r: r.window_s)
    return rule.name, timedelta(seconds=rule.window_s)
