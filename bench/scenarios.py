"""The five scenarios: the same pipeline and data for both tools, timed in one process.

Every scenario builds one project per tool under its own scratch directory, brings it to
the state being measured (untimed), times fresh CLI processes of both tools taking turns,
and deletes its data. The docstring of each scenario says what is measured and how.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from results import (
    REFERENCE,
    Comparison,
    Measured,
    ScenarioResult,
    conveyor_under,
    faster_by,
)
from timing import Command, drop_dirty_pages, run_checked, time_interleaved, warm_up
from tools import StageDef, Tools, conveyor_project, dvc_project

GIB = 1024**3
RACY_WAIT_S = 1.2  # Conveyor re-hashes files modified < 1 s before they were hashed
SMALL_FILES = 10_000


@dataclass(frozen=True)
class Spec:
    """One command to measure: where, what to reset first, how much data it processes."""

    argv: list[str]
    cwd: Path
    before: Callable[[], None] | None = None
    megabytes: float | None = None
    warm: int = 2  # untimed runs first


def measure(tools: Tools, reps: int, *specs: Spec) -> list[Measured]:
    """Warm every command up, then time ``reps`` runs of each, taking turns."""
    for spec in specs:
        if spec.warm:
            warm_up(spec.argv, spec.cwd, tools.env, spec.warm)
    commands = [Command(spec.argv, spec.cwd, spec.before) for spec in specs]
    stats = time_interleaved(commands, tools.env, reps)
    return [
        Measured(" ".join([Path(spec.argv[0]).name, *spec.argv[1:]]), st, spec.megabytes)
        for spec, st in zip(specs, stats, strict=True)
    ]


def noop_run(tools: Tools, work: Path, reps: int) -> ScenarioResult:
    """No-op ``conveyor run`` vs ``dvc repro`` of an up-to-date 3-stage chain.

    Each stage is a ``python -c`` one-liner that reads the previous stage's small file and
    writes its own. The pipeline runs once, the files age past the racy window, both
    commands run twice untimed, then ``reps`` fresh processes of each are timed.
    """
    chain = (
        StageDef("first", _py("open('a.txt','w').write(open('input.txt').read()+'a')"),
                 ("input.txt",), ("a.txt",)),
        StageDef("second", _py("open('b.txt','w').write(open('a.txt').read()+'b')"),
                 ("a.txt",), ("b.txt",)),
        StageDef("third", _py("open('c.txt','w').write(open('b.txt').read()+'c')"),
                 ("b.txt",), ("c.txt",)),
    )  # fmt: skip
    c_dir, d_dir = _both(work, chain, tools)
    for root in (c_dir, d_dir):
        (root / "input.txt").write_text("input\n", encoding="utf-8")
    run_checked(tools.conveyor_cmd("run"), c_dir, tools.env)
    run_checked(tools.dvc_cmd("repro"), d_dir, tools.env)
    _settle()
    conveyor, dvc = measure(
        tools,
        reps,
        Spec(tools.conveyor_cmd("run"), c_dir),
        Spec(tools.dvc_cmd("repro"), d_dir),
    )
    _rm(work)
    return ScenarioResult(
        1,
        "No-op run of an up-to-date 3-stage pipeline",
        noop_run.__doc__ or "",
        (Comparison(conveyor, dvc, faster_by(5)),),
    )


def status_many_files(tools: Tools, work: Path, reps: int) -> ScenarioResult:
    """``conveyor status`` vs ``dvc status``, nothing changed, a dep of 10,000 small files.

    One stage depends on ``data/`` (10,000 files of ~100 bytes) and writes the file count.
    The data is written, left to age past the racy window, the pipeline runs once, its out
    ages too, both ``status`` commands run twice untimed, then ``reps`` are timed. Both
    tools must stat every file to know nothing changed; neither should read one.

    The reference row is the same pipeline with a single file in ``data/``, timed in the
    same turns: the difference between the rows is what the 9,999 other files cost.
    """
    stage = StageDef(
        "count",
        _py("import os; open('count.txt','w').write(str(len(os.listdir('data'))))"),
        ("data",),
        ("count.txt",),
    )
    many = _both(work / "many", (stage,), tools)
    one = _both(work / "one", (stage,), tools)
    for roots, count in ((many, SMALL_FILES), (one, 1)):
        for root in roots:
            _write_small_files(root / "data", count)
    _settle()
    for c_dir, d_dir in (many, one):
        run_checked(tools.conveyor_cmd("run"), c_dir, tools.env)
        run_checked(tools.dvc_cmd("repro"), d_dir, tools.env)
    _settle()
    conveyor, dvc, conveyor_one, dvc_one = measure(
        tools,
        reps,
        Spec(tools.conveyor_cmd("status"), many[0]),
        Spec(tools.dvc_cmd("status"), many[1]),
        Spec(tools.conveyor_cmd("status"), one[0]),
        Spec(tools.dvc_cmd("status"), one[1]),
    )
    _rm(work)
    budget_ms = dvc.stats.median / 10 * 1e3
    per_file = [
        (big.stats.median - small.stats.median) / (SMALL_FILES - 1) * 1e6
        for big, small in ((conveyor, conveyor_one), (dvc, dvc_one))
    ]
    return ScenarioResult(
        2,
        f"`status` with nothing changed, one dep is a directory of {SMALL_FILES:,} files",
        status_many_files.__doc__ or "",
        (
            Comparison(conveyor, dvc, faster_by(10)),
            Comparison(
                _renamed(conveyor_one, "(1 file)"), _renamed(dvc_one, "(1 file)"), REFERENCE
            ),
        ),
        notes=(
            f"For 10× Conveyor would have to answer within {budget_ms:.0f} ms (DVC's median "
            "/ 10), stat calls on every file and interpreter start-up included; compare with "
            "the `python -c pass` floor in the header.",
            f"Per extra file (difference of the medians / 9,999): Conveyor {per_file[0]:.1f} "
            f"µs, DVC {per_file[1]:.1f} µs.",
        ),
    )


def hash_big_file(tools: Tools, work: Path, reps: int) -> ScenarioResult:
    """First hash of a 1 GiB file (random bytes, in the page cache), MB/s decimal.

    One 1 GiB file of random bytes is written once and copied into each project, each
    copy read twice first so it is in the page cache; ``sync`` runs before every
    repetition so one repetition's writeback does not land in the next one's time.

    (a) ``conveyor status`` of a stage depending on the file, the stat cache
        (``.conveyor/statcache.db``) deleted before each repetition, against ``dvc add``
        from scratch (no ``.dvc`` file, empty cache and hash-state, new mtime) and against
        ``dvc status`` of the same stage with DVC's hash-state (``.dvc/tmp``) deleted.
    (b) ``conveyor run --force`` of a stage whose command hard-links the 1 GiB file as its
        out (so the command itself costs nothing): Conveyor hashes the out and copies it
        into the artifact store, as ``dvc add`` hashes it and copies it into its cache.
        Before each repetition the out, the stat cache and the store's objects are deleted.

    Before timing, each code path runs once untimed (a pipeline run, or a ``dvc add`` of a
    1 KiB file), so imports are warm.
    """
    source = work / "source.bin"
    _rm(work)
    work.mkdir(parents=True)
    _write_random(source, GIB)
    megabytes = GIB / 1e6

    c_status, d_status = measure(tools, reps, *_status_specs(source, work / "status", tools))
    _rm(work / "status")
    add_spec = _dvc_add_spec(source, work / "add", tools)
    run_spec = _conveyor_store_spec(source, work / "run", tools)
    d_add, c_run = measure(tools, reps, add_spec, run_spec)
    _rm(work)

    throughput = faster_by(2, "dvc add's MB/s")
    return ScenarioResult(
        3,
        f"First hash of a 1 GiB file ({megabytes:,.1f} MB)",
        hash_big_file.__doc__ or "",
        (
            Comparison(c_status, d_add, throughput),
            Comparison(c_status, d_status, faster_by(2)),
            Comparison(c_run, d_add, throughput),
        ),
        notes=(
            "Rows 1 and 3 compare with the same `dvc add` figures. Row 3 is the like-for-like "
            "one: both hash the file and write a copy of it into their store.",
        ),
    )


def _status_specs(source: Path, work: Path, tools: Tools) -> tuple[Spec, Spec]:
    """``status`` of a stage depending on the file, each tool's hash cache deleted first."""
    depends = StageDef(
        "size",
        _py("import os; open('size.txt','w').write(str(os.path.getsize('big.bin')))"),
        ("big.bin",),
        ("size.txt",),
    )
    c_dir, d_dir = _both(work, (depends,), tools)
    for root in (c_dir, d_dir):
        _place(source, root / "big.bin")
    _settle()
    run_checked(tools.conveyor_cmd("run"), c_dir, tools.env)
    run_checked(tools.dvc_cmd("repro"), d_dir, tools.env)
    return (
        Spec(
            tools.conveyor_cmd("status"),
            c_dir,
            _deleting(lambda: _statcache(c_dir)),
            GIB / 1e6,
            warm=0,
        ),
        Spec(
            tools.dvc_cmd("status"),
            d_dir,
            _deleting(lambda: [d_dir / ".dvc" / "tmp"]),
            GIB / 1e6,
            warm=0,
        ),
    )


def _dvc_add_spec(source: Path, work: Path, tools: Tools) -> Spec:
    """``dvc add big.bin`` with no .dvc file, no cache, no hash-state and a new mtime."""
    _rm(work)
    d_dir = dvc_project(work, (), tools)
    (d_dir / "small.bin").write_bytes(os.urandom(1024))
    run_checked(tools.dvc_cmd("add", "small.bin"), d_dir, tools.env)  # untimed warm-up
    _rm(d_dir / "small.bin.dvc")
    big = d_dir / "big.bin"
    _place(source, big)
    from_scratch = _deleting(
        lambda: [d_dir / "big.bin.dvc", d_dir / ".dvc" / "cache", d_dir / ".dvc" / "tmp"]
    )

    def reset() -> None:
        from_scratch()
        os.utime(big)

    return Spec(tools.dvc_cmd("add", "big.bin"), d_dir, reset, GIB / 1e6, warm=0)


def _conveyor_store_spec(source: Path, work: Path, tools: Tools) -> Spec:
    """``conveyor run --force`` of a stage whose out is a hard link to a 1 GiB file."""
    emit = StageDef("emit", "ln -f source.bin big.bin", (), ("big.bin",))
    _rm(work)
    c_dir = conveyor_project(work, (emit,), tools)
    _place(source, c_dir / "source.bin")
    run_checked(tools.conveyor_cmd("run"), c_dir, tools.env)  # creates the database
    objects = c_dir / ".conveyor" / "store" / "objects"
    reset = _deleting(lambda: [c_dir / "big.bin", objects, *_statcache(c_dir)])
    return Spec(tools.conveyor_cmd("run", "--force"), c_dir, reset, GIB / 1e6, warm=0)


def parallel_stages(tools: Tools, work: Path, reps: int) -> ScenarioResult:
    """Two independent ``sleep 5`` stages: ``conveyor run --force`` vs ``dvc repro --force``.

    No edge joins the two stages, so they may run at once. Conveyor runs up to one stage
    per core (2 here) at a time; DVC runs stages one after the other. Each tool runs the
    pipeline once untimed (which also creates Conveyor's database), then ``reps`` forced
    runs are timed.
    """
    stages = tuple(
        StageDef(name, f"sleep 5 && echo {name} > {name}.txt", (), (f"{name}.txt",))
        for name in ("left", "right")
    )
    c_dir, d_dir = _both(work, stages, tools)
    run_checked(tools.conveyor_cmd("run"), c_dir, tools.env)
    run_checked(tools.dvc_cmd("repro"), d_dir, tools.env)
    conveyor, dvc = measure(
        tools,
        reps,
        Spec(tools.conveyor_cmd("run", "--force"), c_dir, warm=0),
        Spec(tools.dvc_cmd("repro", "--force"), d_dir, warm=0),
    )
    _rm(work)
    target = conveyor_under(6.0, "Conveyor ≈ 5 s (< 6 s), DVC ≈ 10 s")
    return ScenarioResult(
        4,
        "Two independent `sleep 5` stages, forced",
        parallel_stages.__doc__ or "",
        (Comparison(conveyor, dvc, target),),
    )


def help_text(tools: Tools, work: Path, reps: int) -> ScenarioResult:
    """``conveyor --help`` vs ``dvc --help``: start-up plus building the help text.

    Run in an empty directory, twice untimed, then ``reps`` timed.
    """
    _rm(work)
    work.mkdir(parents=True)
    conveyor, dvc = measure(
        tools,
        reps,
        Spec(tools.conveyor_cmd("--help"), work),
        Spec(tools.dvc_cmd("--help"), work),
    )
    _rm(work)
    target = conveyor_under(0.3, "Conveyor < 300 ms")
    return ScenarioResult(
        5, "`--help`", help_text.__doc__ or "", (Comparison(conveyor, dvc, target),)
    )


def _renamed(measured: Measured, suffix: str) -> Measured:
    """The same figures, labelled as a variant of the command."""
    return replace(measured, command=f"{measured.command} {suffix}")


def _py(code: str) -> str:
    """A stage command running a Python one-liner."""
    return f'python -c "{code}"'


def _settle() -> None:
    """Let freshly written files age out of the stat cache's racy window."""
    time.sleep(RACY_WAIT_S)


def _both(work: Path, stages: tuple[StageDef, ...], tools: Tools) -> tuple[Path, Path]:
    """A Conveyor project and a DVC project for the same stages, side by side in ``work``."""
    _rm(work)
    return (
        conveyor_project(work / "conveyor", stages, tools),
        dvc_project(work / "dvc", stages, tools),
    )


def _deleting(paths: Callable[[], list[Path]]) -> Callable[[], None]:
    """A ``before`` hook that deletes ``paths()`` and flushes dirty pages."""

    def reset() -> None:
        for path in paths():
            _rm(path)
        drop_dirty_pages()

    return reset


def _statcache(project: Path) -> list[Path]:
    """Conveyor's stat cache: the SQLite file and its WAL companions, if any."""
    return sorted((project / ".conveyor").glob("statcache.db*"))


def _rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _write_small_files(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"f{i:05d}.txt").write_text(f"row {i:05d} " * 10 + "\n", encoding="utf-8")


def _write_random(path: Path, size: int, chunk: int = 64 * 1024 * 1024) -> None:
    with open(path, "wb") as handle:
        for _ in range(size // chunk):
            handle.write(os.urandom(chunk))


def _place(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` and read the copy twice, so it is in the page cache."""
    shutil.copyfile(source, dest)
    for _ in range(2):
        with open(dest, "rb") as handle:
            while handle.read(16 * 1024 * 1024):
                pass
