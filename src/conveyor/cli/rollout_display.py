"""``deploy --wait`` on a terminal: one live panel (step k/n, a weights bar, the latest
verdict with each metric's key numbers, the time elapsed), redrawn in place by rich.
Not on a terminal, ``deploy --wait`` prints plain lines instead (``rollout_cmds._line``)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from conveyor.delivery.rollout.service import RolloutStatus

BAR = 40
COLOURS = {"pass": "green", "fail": "red", "inconclusive": "yellow"}


def render(current: RolloutStatus, elapsed_s: float) -> Group:
    """The panel for ``current``, ``elapsed_s`` seconds after the wait began."""
    r, v = current.rollout, current.verdict
    minutes, seconds = divmod(int(elapsed_s), 60)
    lines = [
        Text.assemble(
            (f"{r.model} v{r.candidate}", "bold"),
            f" over v{r.stable}  {r.strategy}  judge {r.options.get('judge', 'conveyor')}  ",
            (r.status, "bold"),
            f"  step {r.step + 1}/{len(r.steps)} ({r.weight:g}%)  elapsed {minutes}m{seconds:02d}s",
        )
    ]
    for version, weight in current.as_dict()["weights"].items():
        filled = round(BAR * weight / 100)
        colour = "cyan" if version == str(r.candidate) else "magenta"
        lines.append(
            Text.assemble(
                f"  v{version:<4}",
                ("█" * filled, colour),
                ("░" * (BAR - filled), "dim"),
                f" {weight:g}%",
            )
        )
    if v is not None:
        lines.append(
            Text.assemble(
                "  verdict ",
                (v.decision, f"bold {COLOURS.get(v.decision, '')}"),
                f" at {v.at:%H:%M:%S}: {v.explanation}",
            )
        )
        for m in v.evidence.get("metrics", []):
            lines.append(
                Text(
                    f"    {m['metric']:<12} {m['decision']:<12} n={m['n_canary']}/{m['n_stable']}"
                    f" (min {m['min_sample']})  statistic {_num(m['statistic'])}"
                    f" vs {_num(m['threshold'])}"
                )
            )
    if r.reason:  # why it ended, or why it is paused (resume clears it)
        lines.append(Text(f"  {r.reason}"))
    return Group(*lines)


class LiveFollow:
    """The live panel for as long as the ``with`` block runs."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.began = time.monotonic()
        self._live = Live(console=self.console, auto_refresh=False, transient=False)

    def show(self, current: RolloutStatus) -> None:
        self._live.update(render(current, time.monotonic() - self.began), refresh=True)

    def __enter__(self) -> LiveFollow:
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.stop()


def _num(value: object) -> str:
    from conveyor.reports.formatting import number

    return number(value)
