"""Timing fresh processes: from outside (whole CLI invocations) or as they report.

``time_interleaved`` runs each command ``reps`` times, taking turns, with
:func:`time.perf_counter` around :func:`subprocess.run`, so a figure includes interpreter
start-up, imports and exit, as a user would see them. A command's optional ``before``
callback runs before each of its repetitions, outside the timed window (to delete a
cache, reset a repository, flush dirty pages, ...).

``time_reported`` runs commands the same way, taking turns, but takes each figure from
the process itself: its last line of stdout is a JSON object whose ``seconds`` it timed
around the operation (library calls, where start-up and set-up are not the subject).

``CpuMonitor`` reads ``/proc/stat`` so the report can say how much CPU the hypervisor and
other processes took away while the figures were taken.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CommandFailed(RuntimeError):
    """A benchmarked command exited with a non-zero status."""


@dataclass(frozen=True)
class Stats:
    """Wall-clock seconds of ``n`` repetitions of one command."""

    samples: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)


def run_checked(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to the end; raise :class:`CommandFailed` with its output if it fails."""
    proc = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise CommandFailed(
            f"`{' '.join(argv)}` in {cwd} exited with {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


@dataclass(frozen=True)
class Command:
    """A command to time; ``before`` runs untimed before each repetition."""

    argv: Sequence[str]
    cwd: Path
    before: Callable[[], None] | None = None


def time_interleaved(commands: Sequence[Command], env: Mapping[str, str], reps: int) -> list[Stats]:
    """Wall time of ``reps`` fresh runs of each command, taking turns.

    The commands alternate within each repetition, in reverse order every other time, so
    a change in background load hits every command alike instead of whichever ran last.
    """
    samples: list[list[float]] = [[] for _ in commands]
    for i, command in _taking_turns(commands, reps):
        started = time.perf_counter()
        run_checked(command.argv, command.cwd, env)
        samples[i].append(time.perf_counter() - started)
    return [Stats(tuple(bucket)) for bucket in samples]


def _taking_turns(commands: Sequence[Command], reps: int) -> Iterator[tuple[int, Command]]:
    """Each command once per repetition, in reverse order every other time, set up first."""
    for rep in range(reps):
        order = list(range(len(commands)))
        if rep % 2:
            order.reverse()
        for i in order:
            before = commands[i].before
            if before is not None:
                before()
            yield i, commands[i]


def time_reported(
    commands: Sequence[Command], env: Mapping[str, str], reps: int
) -> list[list[dict[str, Any]]]:
    """Each command's own reports (last stdout line, JSON) from ``reps`` fresh runs.

    Taking turns as :func:`time_interleaved` does; the reports come back in run order.
    """
    reports: list[list[dict[str, Any]]] = [[] for _ in commands]
    for i, command in _taking_turns(commands, reps):
        reports[i].append(last_report(run_checked(command.argv, command.cwd, env).stdout))
    return reports


def last_report(stdout: str) -> dict[str, Any]:
    """The JSON object a driver printed as its last line."""
    lines = stdout.strip().splitlines()
    if not lines:
        raise CommandFailed("the command printed no report")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def stats_of(reports: Sequence[Mapping[str, Any]], key: str = "seconds") -> Stats:
    """The ``key`` figure of each report, as :class:`Stats`."""
    return Stats(tuple(float(report[key]) for report in reports))


def warm_up(argv: Sequence[str], cwd: Path, env: Mapping[str, str], times: int = 2) -> None:
    """Run ``argv`` a few times untimed (page cache, pyc files, tool caches)."""
    for _ in range(times):
        run_checked(argv, cwd, env)


def drop_dirty_pages() -> None:
    """Flush written data to disk, so one repetition's writeback does not slow the next."""
    os.sync()


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as ``/proc/loadavg`` gives them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


@dataclass(frozen=True)
class CpuShares:
    """How the machine's CPU time was spent while the benchmark ran, in percent."""

    steal: float  # taken by the hypervisor
    others: float  # used by processes other than the benchmark and its children


class CpuMonitor:
    """Reads ``/proc/stat`` and this process's rusage at ``start()`` and at ``shares()``."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int, int, float]:
        """(steal, busy, total) in clock ticks, and this process tree's CPU seconds."""
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
        except OSError:
            return (0, 0, 0, 0.0)
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields)
        busy = user + nice + system + irq + softirq
        ours = sum(
            usage.ru_utime + usage.ru_stime
            for usage in (
                resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN),
            )
        )
        return steal, busy, busy + idle + iowait + steal, ours

    def start(self) -> None:
        self._start = self._read()

    def shares(self) -> CpuShares | None:
        steal, busy, total, ours = (b - a for a, b in zip(self._start, self._read(), strict=True))
        if total <= 0:
            return None
        ours_ticks = ours * os.sysconf("SC_CLK_TCK")
        others = max(0.0, busy - ours_ticks)
        return CpuShares(steal=100.0 * steal / total, others=100.0 * others / total)
