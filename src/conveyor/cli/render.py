"""How runs look in a terminal: the live stage table and the closing summary."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from conveyor.pipeline.worker import Outcome

STYLE = {
    "ran": "green",
    "cached": "cyan",
    "unchanged": "dim",
    "failed": "bold red",
    "skipped": "yellow",
    "interrupted": "yellow",
    "running": "bold",
    "restoring": "cyan",
    "checking": "dim",
    "storing": "dim",
    "waiting": "dim",
}
WORDS = {
    "ran": "ran",
    "cached": "restored from cache",
    "unchanged": "up to date",
    "failed": "FAILED",
    "skipped": "skipped",
    "interrupted": "interrupted",
}


class ConsoleReporter:
    """A live table of stages on a terminal; one line per event elsewhere (CI logs)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.states: dict[str, str] = {}
        self.started_at: dict[str, float] = {}
        self.durations: dict[str, float] = {}
        self.live: Live | None = None

    def started(self, run_id: str, stages: Sequence[str]) -> None:
        self.console.print(f"run [bold]{run_id}[/]: {len(stages)} stage(s)")
        self.states = {name: "waiting" for name in stages}
        if self.console.is_terminal:
            self.live = Live(
                self._table(),
                console=self.console,
                refresh_per_second=8,
                transient=False,
                get_renderable=self._table,
            )
            self.live.start()

    def action(self, stage: str, action: str) -> None:
        self.states[stage] = action
        self.started_at.setdefault(stage, time.monotonic())
        if self.live is None and action == "running":
            self.console.print(f"  {stage}: running")

    def finished(self, outcome: Outcome) -> None:
        self.states[outcome.stage] = outcome.status
        if outcome.record.duration_s is not None:
            self.durations[outcome.stage] = outcome.record.duration_s
        if self.live is None:
            self.console.print(Text.assemble("  ", self._line(outcome.stage)))
        if outcome.status == "failed":
            self._print_failure(outcome)

    def _print_failure(self, outcome: Outcome) -> None:
        target = self.live.console if self.live else self.console
        target.print(
            f"[bold red]stage {outcome.stage!r} failed:[/] {escape(outcome.record.message or '')}"
        )
        if outcome.stderr_tail:
            target.print(Text(_indent(outcome.stderr_tail), style="dim"))

    def warning(self, message: str) -> None:
        target = self.live.console if self.live else self.console
        target.print(f"[yellow]warning:[/] {escape(message)}")

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _line(self, stage: str) -> Text:
        state = self.states[stage]
        seconds = self.durations.get(stage)
        if seconds is None and stage in self.started_at and state not in WORDS:
            seconds = time.monotonic() - self.started_at[stage]
        took = f" ({seconds:.1f}s)" if seconds is not None else ""
        return Text.assemble(
            (f"{stage:<20}", "bold"), (WORDS.get(state, state) + took, STYLE.get(state, ""))
        )

    def _table(self) -> Group:
        return Group(*(Text.assemble("  ", self._line(stage)) for stage in self.states))


def _indent(text: str) -> str:
    return "\n".join("    | " + line for line in text.splitlines())


def summary_table(outcomes: Sequence[Outcome]) -> Table:
    """The closing table of a run: each stage, what happened, how long it took."""
    table = Table(box=None, pad_edge=False)
    table.add_column("stage")
    table.add_column("result")
    table.add_column("time", justify="right")
    for outcome in outcomes:
        seconds = outcome.record.duration_s
        table.add_row(
            outcome.stage,
            Text(WORDS.get(outcome.status, outcome.status), STYLE.get(outcome.status, "")),
            f"{seconds:.2f}s" if seconds is not None else "",
        )
    return table
