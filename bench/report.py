"""Turning results into the terminal table and ``bench/RESULTS.md``.

Numbers in RESULTS.md are only ever written here, from the figures of one run. The file
holds one block per group (DVC, MLflow) between ``<!-- group:KEY -->`` markers, each with
its own run details, so running one group (``BENCH_ONLY=mlflow``) rewrites its block and
keeps the other as the last run left it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from results import Comparison, Measured, ScenarioResult
from timing import CpuShares, Stats
from tools import Versions


@dataclass(frozen=True)
class RunInfo:
    """Everything about one group's run besides the scenario results."""

    versions: Versions
    peer_version: str  # e.g. "3.67.1 (PyPI, own virtualenv `bench/.venvs/dvc`)"
    repetitions: str  # which repetition counts applied to which scenarios
    started: str
    duration_s: float
    cpu: CpuShares | None
    load_before: str
    python_floor: Stats | None  # `python -c pass`, for groups that time whole processes
    source_changed: bool
    bytecode_was_off: bool  # PYTHONDONTWRITEBYTECODE was set for the benchmark process


@dataclass(frozen=True)
class GroupText:
    """What a group's block says besides its figures."""

    key: str  # the block's marker, and BENCH_ONLY's name for the group
    title: str
    peer: str  # the peer's name, as a column heading
    prefix: str  # before scenario numbers: "M" makes M1, M2, ...
    figures: str  # how to read the figures
    notes: Callable[[RunInfo], list[str]]


def seconds(stats: Stats) -> str:
    """``median [min–max]``, in ms below one second, else in s."""
    if stats.median < 0.01:
        return f"{stats.median * 1e3:.1f} ms [{stats.low * 1e3:.1f}–{stats.high * 1e3:.1f}]"
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


def ratio(comparison: Comparison) -> str:
    value = comparison.ratio
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def version_lines(versions: Versions) -> list[str]:
    """``VERSION`` lines, printed first so a log says what was measured."""
    return [
        f"VERSION python {versions.python}",
        f"VERSION conveyor {versions.conveyor} commit {versions.commit}",
        f"VERSION machine {versions.cores} cores, {versions.cpu}",
    ]


def terminal_table(results: Sequence[ScenarioResult], text: GroupText) -> str:
    """A plain-text table of every comparison."""
    header = ("#", "Conveyor", "time", text.peer, "time", f"{text.peer}/Conv", "target", "")
    rows = [header]
    for result in results:
        for c in result.comparisons:
            rows.append(
                (
                    f"{text.prefix}{result.number}",
                    c.conveyor.command,
                    figure(c.conveyor),
                    c.peer.command,
                    figure(c.peer),
                    f"{ratio(c)}x",
                    c.target.text,
                    verdict(c),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def document(versions: Versions, blocks: Mapping[str, str], order: Sequence[GroupText]) -> str:
    """The whole of RESULTS.md: a header, then each group's block in ``order``."""
    parts = [_header(versions)]
    for text in order:
        block = blocks.get(text.key) or _missing(text)
        parts.append(f"<!-- group:{text.key} -->\n{block}\n<!-- /group:{text.key} -->")
    known = {text.key for text in order}
    for key, block in blocks.items():  # blocks other scripts own (bench/quality.py)
        if key not in known:
            parts.append(f"<!-- group:{key} -->\n{block}\n<!-- /group:{key} -->")
    return "\n\n".join(parts) + "\n"


def blocks_in(old: str) -> dict[str, str]:
    """The group blocks of an existing RESULTS.md, by key."""
    pattern = re.compile(r"<!-- group:(\w+) -->\n(.*?)\n<!-- /group:\1 -->", re.DOTALL)
    return {match[1]: match[2] for match in pattern.finditer(old)}


def group_block(results: Sequence[ScenarioResult], info: RunInfo, text: GroupText) -> str:
    """One group's block: its run, summary, a section per scenario, and notes."""
    parts = [_group_header(info, text), _summary(results, text)]
    parts += [_section(result, text) for result in results]
    parts.append("\n".join([f"### Notes ({text.peer})", "", *(f"- {n}" for n in text.notes(info))]))
    return "\n\n".join(parts)


def _header(versions: Versions) -> str:
    return "\n".join(
        [
            "# Conveyor vs its peers: benchmarks",
            "",
            "Written by `bench/run.py`; do not edit by hand. Produced by `make bench` "
            "(= `PATH=.venv/bin:$PATH .venv/bin/python bench/run.py`) from the repository "
            "root, which runs every group; `BENCH_ONLY=dvc` or `BENCH_ONLY=mlflow` runs one "
            "group and rewrites only its block below.",
            "",
            "| | |",
            "| --- | --- |",
            f"| machine | {versions.cores} cores (`nproc`), {versions.cpu} |",
            f"| Python | {versions.python} |",
        ]
    )


def _missing(text: GroupText) -> str:
    return (
        f"## {text.title}\n\nNot run yet: `BENCH_ONLY={text.key} make bench` "
        "(or `make bench`) writes this block."
    )


def _group_header(info: RunInfo, text: GroupText) -> str:
    v = info.versions
    cpu = (
        "n/a"
        if info.cpu is None
        else f"steal {info.cpu.steal:.1f} %, other processes {info.cpu.others:.1f} %"
    )
    changed = ""
    if info.source_changed:
        changed = " (**its source changed during the run: figures may mix versions**)"
    rows = [
        f"| {text.peer} | {info.peer_version} |",
        f"| Conveyor | {v.conveyor}, commit {v.commit} at the start of the run{changed} |",
        f"| run | started {info.started}, took {info.duration_s / 60:.1f} min |",
        f"| repetitions | {info.repetitions} |",
        f"| CPU time lost during the run | {cpu} of both cores (`/proc/stat`) |",
        f"| load average (1, 5, 15 min) just before the run | {info.load_before} |",
    ]
    if info.python_floor is not None:
        rows.append(
            f"| floor: `python -c pass` (same interpreter) | {seconds(info.python_floor)} |"
        )
    return "\n".join(
        [
            f"## {text.title}",
            "",
            "| | |",
            "| --- | --- |",
            *rows,
            "",
            inspect.cleandoc(text.figures),
        ]
    )


def _summary(results: Sequence[ScenarioResult], text: GroupText) -> str:
    peer = text.peer
    lines = [
        f"### Summary ({peer})",
        "",
        f"| # | Conveyor | {peer} | {peer}/Conv | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        for c in result.comparisons:
            lines.append(
                f"| {text.prefix}{result.number} | `{c.conveyor.command}` "
                f"{seconds(c.conveyor.stats)} | `{c.peer.command}` {seconds(c.peer.stats)} | "
                f"{ratio(c)}× | {c.target.text} | {verdict(c)} |"
            )
    return "\n".join(lines)


def _section(result: ScenarioResult, text: GroupText) -> str:
    peer = text.peer
    lines = [
        f"### {text.prefix}{result.number}. {result.title}",
        "",
        inspect.cleandoc(result.method),
        "",
        f"| Conveyor | time | {peer} | time | {peer}/Conv | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in result.comparisons:
        lines.append(
            f"| `{c.conveyor.command}` | {figure(c.conveyor)} | `{c.peer.command}` | "
            f"{figure(c.peer)} | **{ratio(c)}×** | {c.target.text} | **{verdict(c)}** |"
        )
    if result.notes:
        lines += ["", *(f"- {note}" for note in result.notes)]
    return "\n".join(lines)


def write_block(results: Path, key: str, section: str) -> None:
    """Replace (or append) the ``<!-- group:KEY -->`` block of ``results``; the rest is kept."""
    old = results.read_text(encoding="utf-8") if results.exists() else ""
    marked = f"<!-- group:{key} -->\n{section}\n<!-- /group:{key} -->"
    pattern = re.compile(rf"<!-- group:{key} -->\n.*?\n<!-- /group:{key} -->", re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: marked, old)
    else:
        new = old.rstrip("\n") + "\n\n" + marked + "\n"
    results.write_text(new, encoding="utf-8")
