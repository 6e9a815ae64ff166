"""Turning results into the terminal table and ``bench/RESULTS.md``.

Numbers in RESULTS.md are only ever written here, from the figures of one run.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

from results import Comparison, Measured, ScenarioResult
from timing import CpuShares, Stats
from tools import Versions


@dataclass(frozen=True)
class RunInfo:
    """Everything about one benchmark run besides the scenario results."""

    versions: Versions
    reps: int
    heavy_reps: int
    started: str
    duration_s: float
    cpu: CpuShares | None
    load_before: str
    python_floor: Stats
    source_changed: bool
    bytecode_was_off: bool  # PYTHONDONTWRITEBYTECODE was set for the benchmark process


def seconds(stats: Stats) -> str:
    """``median [min–max]``, in ms below one second, else in s."""
    if stats.median < 1.0:
        return f"{stats.median * 1e3:.0f} ms [{stats.low * 1e3:.0f}–{stats.high * 1e3:.0f}]"
    return f"{stats.median:.2f} s [{stats.low:.2f}–{stats.high:.2f}]"


def figure(measured: Measured) -> str:
    """Time, then MB/s when the command processed a known amount of data."""
    text = seconds(measured.stats)
    if measured.mb_per_s is not None:
        text += f", {measured.mb_per_s:,.0f} MB/s"
    return text


def verdict(comparison: Comparison) -> str:
    passed = comparison.passed
    return "–" if passed is None else "PASS" if passed else "FAIL"


def version_lines(versions: Versions) -> list[str]:
    """``VERSION`` lines, printed first so a log says what was measured."""
    return [
        f"VERSION python {versions.python}",
        f"VERSION dvc {versions.dvc}",
        f"VERSION conveyor {versions.conveyor} commit {versions.commit}",
        f"VERSION machine {versions.cores} cores, {versions.cpu}",
    ]


def terminal_table(results: Sequence[ScenarioResult]) -> str:
    """A plain-text table of every comparison."""
    header = ("#", "Conveyor", "time", "DVC", "time", "DVC/Conv", "target", "")
    rows = [header]
    for result in results:
        for c in result.comparisons:
            rows.append(
                (
                    str(result.number),
                    c.conveyor.command,
                    figure(c.conveyor),
                    c.dvc.command,
                    figure(c.dvc),
                    f"{c.ratio:.1f}x",
                    c.target.text,
                    verdict(c),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def markdown(results: Sequence[ScenarioResult], info: RunInfo) -> str:
    """The whole of RESULTS.md."""
    parts = [_header(info), _summary(results)]
    parts += [_section(result) for result in results]
    parts.append(_notes(info))
    return "\n\n".join(parts) + "\n"


def _header(info: RunInfo) -> str:
    v = info.versions
    cpu = (
        "n/a"
        if info.cpu is None
        else f"steal {info.cpu.steal:.1f} %, other processes {info.cpu.others:.1f} %"
    )
    changed = ""
    if info.source_changed:
        changed = " (**its source changed during the run: figures may mix versions**)"
    return "\n".join(
        [
            "# Conveyor vs DVC: pipeline benchmarks",
            "",
            "Written by `bench/run.py`; do not edit by hand. Produced by `make bench` "
            "(= `PATH=.venv/bin:$PATH .venv/bin/python bench/run.py`) from the repository root.",
            "",
            "| | |",
            "| --- | --- |",
            f"| machine | {v.cores} cores (`nproc`), {v.cpu} |",
            f"| Python | {v.python} |",
            f"| DVC | {v.dvc} (PyPI, own virtualenv `bench/.venvs/dvc`) |",
            f"| Conveyor | {v.conveyor}, commit {v.commit} at the start of the run{changed} |",
            f"| run | started {info.started}, took {info.duration_s / 60:.1f} min |",
            f"| repetitions | {info.reps} (scenarios 1, 2, 5; `BENCH_REPS`), "
            f"{info.heavy_reps} (scenarios 3, 4; `BENCH_HEAVY_REPS`) |",
            f"| CPU time lost during the run | {cpu} of both cores (`/proc/stat`) |",
            f"| load average (1, 5, 15 min) just before the run | {info.load_before} |",
            f"| floor: `python -c pass` (same interpreter) | {seconds(info.python_floor)} |",
            "",
            "Figures are **median [min–max]** wall time over the repetitions, each repetition a "
            "fresh process of the CLI, timed from outside (start-up and imports included). "
            "*DVC/Conv* is DVC's median over Conveyor's: how many times faster Conveyor is. "
            "MB/s are decimal (1 GiB = 1,073.7 MB), at the median time.",
        ]
    )


def _summary(results: Sequence[ScenarioResult]) -> str:
    lines = [
        "## Summary",
        "",
        "| # | Conveyor | DVC | DVC/Conv | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for c in result.comparisons:
            lines.append(
                f"| {result.number} | `{c.conveyor.command}` {seconds(c.conveyor.stats)} | "
                f"`{c.dvc.command}` {seconds(c.dvc.stats)} | {c.ratio:.1f}× | "
                f"{c.target.text} | {verdict(c)} |"
            )
    return "\n".join(lines)


def _section(result: ScenarioResult) -> str:
    lines = [
        f"## {result.number}. {result.title}",
        "",
        inspect.cleandoc(result.method),
        "",
        "| Conveyor | time | DVC | time | DVC/Conv | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in result.comparisons:
        lines.append(
            f"| `{c.conveyor.command}` | {figure(c.conveyor)} | `{c.dvc.command}` | "
            f"{figure(c.dvc)} | **{c.ratio:.1f}×** | {c.target.text} | **{verdict(c)}** |"
        )
    if result.notes:
        lines += ["", *(f"- {note}" for note in result.notes)]
    return "\n".join(lines)


def _notes(info: RunInfo) -> str:
    if info.cpu is None:
        lost = "could not be measured"
    else:
        lost = (
            f"was {info.cpu.steal:.1f} % of the machine's CPU time taken by the hypervisor "
            f"(steal) and {info.cpu.others:.1f} % used by other processes"
        )
    return "\n".join(
        [
            "## Notes",
            "",
            "- Noise: this is a 2-vCPU virtual machine shared with other work. During this "
            f"run there {lost}; peer-baselines.md saw 16–22 % steal under load. Both tools "
            "suffer alike, alternating within each scenario, but sub-second figures move by "
            "tens of percent between runs: compare medians, and read the [min–max] spread "
            "before trusting a small difference.",
            "- Both tools ran on the same machine, in the same run, on identical pipelines and "
            "data, in separate fresh git repositories under `bench/.work/` (deleted afterwards).",
            "- DVC: installed from PyPI by name, default settings (cache type reflink,copy, "
            "which is a copy on ext4), `DO_NOT_TRACK=1`, `core.analytics false`, and "
            "`core.check_update false` because its update check would call out to the "
            "internet. peer-baselines.md §4 timed DVC separately on this machine type; the "
            "ratios here use only figures from this run.",
            "- Conveyor trusts a stat-cache entry only if the file was modified at least 1 s "
            "before it was hashed (git's racy-clean rule), so the scenarios let files age "
            "1.2 s before the untimed runs that fill the cache.",
            "- The stage commands run `python` from the benchmark's virtualenv for both tools.",
            "- Both tools' bytecode is cached in `bench/.venvs/pycache` (`PYTHONPYCACHEPREFIX`)"
            + (
                "; this machine sets `PYTHONDONTWRITEBYTECODE=1`, under which the editable "
                "install of Conveyor would recompile its modules on every command (~10–15 ms) "
                "while DVC's were compiled by pip."
                if info.bytecode_was_off
                else "."
            ),
            "- No test asserts on these timings; PASS/FAIL only compares with the targets.",
        ]
    )
