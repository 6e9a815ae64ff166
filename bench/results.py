"""What a scenario produces: measured commands, compared pairwise against a target.

Every comparison sets Conveyor against a peer (DVC, MLflow) doing the same job; ratios are
the peer's median over Conveyor's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from timing import Stats


@dataclass(frozen=True)
class Measured:
    """One command's timings; ``megabytes`` (decimal) is the data it processed, if any."""

    command: str
    stats: Stats
    megabytes: float | None = None

    @property
    def mb_per_s(self) -> float | None:
        """Throughput at the median time."""
        return None if self.megabytes is None else self.megabytes / self.stats.median


@dataclass(frozen=True)
class Target:
    """A goal, in words and as a check on (Conveyor, peer) timings; no check: a reference."""

    text: str
    check: Callable[[Stats, Stats], bool] | None = None


REFERENCE = Target("reference (no target)")


def faster_by(factor: float, what: str = "faster") -> Target:
    """Conveyor's median at least ``factor`` times below the peer's."""
    return Target(f"≥ {factor:g}× {what}", lambda c, d: d.median >= factor * c.median)


def conveyor_under(seconds: float, text: str) -> Target:
    """Conveyor's median below an absolute time."""
    return Target(text, lambda c, d: c.median < seconds)


def all_of(*targets: Target) -> Target:
    """Every one of ``targets`` met; their texts joined with "and"."""
    checks = [t.check for t in targets if t.check is not None]
    return Target(
        " and ".join(t.text for t in targets), lambda c, d: all(ch(c, d) for ch in checks)
    )


@dataclass(frozen=True)
class Comparison:
    """Conveyor and a peer doing the same job."""

    conveyor: Measured
    peer: Measured
    target: Target

    @property
    def ratio(self) -> float:
        """The peer's median over Conveyor's: how many times faster Conveyor is."""
        return self.peer.stats.median / self.conveyor.stats.median

    @property
    def passed(self) -> bool | None:
        """Whether the target was met; None for a reference row."""
        if self.target.check is None:
            return None
        return self.target.check(self.conveyor.stats, self.peer.stats)


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario: what it measures and how, its comparisons, and remarks."""

    number: int
    title: str
    method: str
    comparisons: tuple[Comparison, ...]
    notes: tuple[str, ...] = ()
