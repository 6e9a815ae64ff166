"""The pipeline tools under test (Conveyor's CLI and DVC's), and throw-away projects.

Conveyor is the one installed in the repository's ``.venv``; DVC is installed from PyPI
into its own virtualenv (``bench/.venvs/dvc``), created on the first run and reused after.
Both see the same environment: ``DO_NOT_TRACK=1``; ``python`` on ``PATH`` is the
interpreter running the benchmark, so stage commands run on the same Python for both; and
bytecode is cached for both in ``bench/.venvs/pycache`` (``PYTHONPYCACHEPREFIX``), even
where ``PYTHONDONTWRITEBYTECODE`` is set. Without that, an editable install of Conveyor
would recompile its own modules on every command while DVC's were compiled by pip.

A pipeline is described once as :class:`StageDef` items and written as ``conveyor.yaml``
or ``dvc.yaml``: both files use the same ``cmd``/``deps``/``outs`` keys. Every project is a
fresh git repository; a DVC project is also ``dvc init``-ed, with analytics and the update
check (which would call out to the internet) turned off.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from timing import run_checked

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DVC_VENV = BENCH_DIR / ".venvs" / "dvc"
PYCACHE = BENCH_DIR / ".venvs" / "pycache"


@dataclass(frozen=True)
class StageDef:
    """One pipeline stage, written the same way for Conveyor and for DVC."""

    name: str
    cmd: str
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tools:
    """Where the two CLIs are, and the environment every benchmarked command runs in."""

    conveyor: Path
    dvc: Path
    env: dict[str, str]

    def conveyor_cmd(self, *args: str) -> list[str]:
        return [str(self.conveyor), *args]

    def dvc_cmd(self, *args: str) -> list[str]:
        return [str(self.dvc), *args]


def ensure_venv(venv: Path, package: str, executable: str) -> Path:
    """``venv/bin/<executable>``, installing ``package`` from PyPI into ``venv`` if missing."""
    found = venv / "bin" / executable
    if found.exists():
        return found
    print(f"installing {package} into {venv} (first run only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    for args in (["--upgrade", "pip"], [package]):
        proc = subprocess.run([*pip, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"pip install {' '.join(args)} failed")
    return found


def ensure_dvc(venv: Path = DVC_VENV) -> Path:
    """The ``dvc`` executable, installing DVC from PyPI into ``venv`` if it is not there."""
    return ensure_venv(venv, "dvc", "dvc")


def base_env(drop: tuple[str, ...] = ("CONVEYOR_", "DVC_", "MLFLOW_")) -> dict[str, str]:
    """This process's environment for benchmarked commands: no tool settings leak in.

    Bytecode is cached in ``PYCACHE`` for every tool, ``DO_NOT_TRACK=1``, and ``python``
    on ``PATH`` is the interpreter running the benchmark.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["DO_NOT_TRACK"] = "1"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def find_tools() -> Tools:
    """Locate both CLIs and build the shared environment."""
    conveyor = Path(sys.executable).parent / "conveyor"
    if not conveyor.exists():
        found = shutil.which("conveyor")
        if found is None:
            raise SystemExit("conveyor is not installed; run `make install` first")
        conveyor = Path(found)
    env = base_env()
    env["DVC_NO_ANALYTICS"] = "1"
    return Tools(conveyor=conveyor, dvc=ensure_dvc(), env=env)


def pipeline_yaml(stages: Sequence[StageDef]) -> str:
    """``conveyor.yaml`` / ``dvc.yaml`` text for ``stages`` (JSON-quoted values are YAML)."""
    lines = ["stages:"]
    for stage in stages:
        lines += [f"  {stage.name}:", f"    cmd: {json.dumps(stage.cmd)}"]
        for key, paths in (("deps", stage.deps), ("outs", stage.outs)):
            if paths:
                lines.append(f"    {key}: [{', '.join(json.dumps(p) for p in paths)}]")
    return "\n".join(lines) + "\n"


def _git_init(path: Path, tools: Tools) -> None:
    path.mkdir(parents=True, exist_ok=True)
    run_checked(["git", "init", "-q", "-b", "main"], path, tools.env)


def conveyor_project(path: Path, stages: Sequence[StageDef], tools: Tools) -> Path:
    """A fresh git repository holding ``conveyor.yaml`` for ``stages``."""
    _git_init(path, tools)
    (path / "conveyor.yaml").write_text(pipeline_yaml(stages), encoding="utf-8")
    (path / ".gitignore").write_text(".conveyor/\n", encoding="utf-8")
    return path


def dvc_project(path: Path, stages: Sequence[StageDef], tools: Tools) -> Path:
    """A fresh git + DVC repository, telemetry and update check off, with ``dvc.yaml``."""
    _git_init(path, tools)
    run_checked(tools.dvc_cmd("init", "-q"), path, tools.env)
    run_checked(tools.dvc_cmd("config", "core.analytics", "false"), path, tools.env)
    run_checked(tools.dvc_cmd("config", "core.check_update", "false"), path, tools.env)
    if stages:
        (path / "dvc.yaml").write_text(pipeline_yaml(stages), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Versions:
    """What the figures were taken with, besides the peers (each group names its own)."""

    python: str
    conveyor: str
    commit: str
    cpu: str
    cores: int


def versions() -> Versions:
    """Versions of Python and Conveyor (with its git commit), and the CPU."""
    env = base_env()
    probe = "import importlib.metadata as m; print(m.version('conveyor-ml'))"
    conveyor = run_checked([sys.executable, "-c", probe], REPO_ROOT, env).stdout.strip()
    return Versions(
        python=f"{platform.python_implementation()} {platform.python_version()}",
        conveyor=conveyor,
        commit=_commit(env),
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
    )


def dvc_version(tools: Tools) -> str:
    """What ``dvc --version`` says."""
    return run_checked(tools.dvc_cmd("--version"), REPO_ROOT, tools.env).stdout.strip()


def source_fingerprint() -> str:
    """A digest of Conveyor's source files, to notice edits made while the bench runs."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _commit(env: dict[str, str]) -> str:
    git = ["git", "--no-optional-locks"]
    head = run_checked([*git, "rev-parse", "--short", "HEAD"], REPO_ROOT, env).stdout
    changed = run_checked([*git, "status", "--porcelain", "--", "src"], REPO_ROOT, env)
    dirty = " (with uncommitted changes under src/)" if changed.stdout.strip() else ""
    return head.strip() + dirty


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
