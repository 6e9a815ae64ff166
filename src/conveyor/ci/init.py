"""``conveyor ci init``: write the CI, CT and CD workflow files of a project's CI platform.

Each platform has its templates in ``conveyor/ci/templates/<platform>/``; each template becomes
one file of the repository (``_LAYOUT``). A template's own values are written ``@@{name}``
(:class:`string.Template` with ``@@`` as the delimiter), so that GitHub's ``${{ expr }}`` and
the shell's ``$VAR`` pass through untouched. The values are:

- ``python``: the Python version the jobs install (``--python``);
- ``model``: the registered model's name (``evaluation.name`` in ``conveyor.yaml``) as a YAML
  string, or an empty string with a comment asking for it;
- ``workdir`` and ``prefix``: where the project lies in the repository (``.`` and an empty
  prefix when ``conveyor.yaml`` is at the top; ``ml`` and ``ml/`` in a monorepo);
- ``install``: the pip requirement that installs Conveyor, pinned to this version;
- ``conveyor_version``: this version, named in each file's header.

Every file is rendered before any is written, existing files are refused unless ``force``,
and each file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import string
import tempfile
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Literal, get_args

from conveyor.errors import ConflictError, InvalidValue, PathError

Platform = Literal["github", "gitlab"]
PLATFORMS: tuple[str, ...] = get_args(Platform)

_LAYOUT: dict[Platform, tuple[tuple[str, str], ...]] = {
    "github": (
        ("conveyor-ci.yml", ".github/workflows/conveyor-ci.yml"),
        ("conveyor-train.yml", ".github/workflows/conveyor-train.yml"),
        ("conveyor-deliver.yml", ".github/workflows/conveyor-deliver.yml"),
    ),
    "gitlab": (
        ("gitlab-ci.yml", ".gitlab-ci.yml"),
        ("base.yml", ".gitlab/conveyor/base.yml"),
        ("ci.yml", ".gitlab/conveyor/ci.yml"),
        ("train.yml", ".gitlab/conveyor/train.yml"),
        ("deliver.yml", ".gitlab/conveyor/deliver.yml"),
    ),
}
EXTRAS = "quality,postgres,s3"  # gates and reports; the shared store (PostgreSQL + S3)
MODEL_PLACEHOLDER = (
    '""  # >>> EDIT HERE: the registered model (evaluation.name in conveyor.yaml) <<<'
)
_PYTHON = re.compile(r"3\.\d{1,2}(\.\d{1,3})?")
_SAFE_DIR = re.compile(r"[A-Za-z0-9._/-]+")
_RELEASE = re.compile(r"\d+(\.\d+)*")


class _Template(string.Template):
    delimiter = "@@"


def write_workflows(
    root: Path,
    platform: Platform,
    *,
    force: bool = False,
    python: str = "3.11",
    project: Path | None = None,
) -> list[Path]:
    """Write ``platform``'s workflow files under ``root``, the repository's top directory.

    ``project`` is the directory holding ``conveyor.yaml`` (default: ``root``); in a
    monorepo it lies below ``root`` and the jobs work there. Returns the paths written.
    Raises :class:`ConflictError` naming the files that exist, unless ``force``.

    Example::

        >>> write_workflows(Path("."), "github")  # doctest: +SKIP
        [PosixPath('.github/workflows/conveyor-ci.yml'), ...]
    """
    layout = _layout(platform)
    values = template_values(root, project or root, python)
    rendered = {root / dest: render(platform, name, values) for name, dest in layout}
    existing = [path for path in rendered if path.exists()]
    if existing and not force:
        names = ", ".join(path.relative_to(root).as_posix() for path in existing)
        raise ConflictError(
            f"{'this file exists' if len(existing) == 1 else 'these files exist'} in {root}: "
            f"{names}",
            hint="use --force to overwrite them"
            + (
                " (or copy the `include` of the new .gitlab-ci.yml into yours; see docs/ci.md)"
                if platform == "gitlab"
                else ""
            ),
        )
    for path, text in rendered.items():
        _write_atomic(path, text)
    return list(rendered)


def template_values(root: Path, project: Path, python: str) -> dict[str, str]:
    """The values the templates are filled with (see the module's docstring)."""
    if not _PYTHON.fullmatch(python):
        raise InvalidValue(
            f"python version {python!r} is not of the form 3.X or 3.X.Y",
            hint="give the version the jobs should install, e.g. 3.11",
        )
    from conveyor import __version__

    workdir = _workdir(root, project)
    spec = f"conveyor-ml[{EXTRAS}]"
    return {
        "python": python,
        "model": _model_value(project),
        "workdir": workdir,
        "prefix": "" if workdir == "." else f"{workdir}/",
        "install": f"{spec}=={__version__}" if _RELEASE.fullmatch(__version__) else spec,
        "conveyor_version": __version__,
    }


def render(platform: Platform, name: str, values: dict[str, str]) -> str:
    """One template of ``platform`` filled with ``values``."""
    source = resources.files("conveyor.ci").joinpath("templates", platform, name)
    return _Template(source.read_text(encoding="utf-8")).substitute(values)


def repository_root(project: Path) -> Path:
    """The top of the git work tree holding ``project``, or ``project`` outside git."""
    project = project.resolve()
    for candidate in (project, *project.parents):
        if (candidate / ".git").exists():
            return candidate
    return project


def _layout(platform: Platform) -> tuple[tuple[str, str], ...]:
    try:
        return _LAYOUT[platform]
    except KeyError:
        raise InvalidValue(
            f"unknown CI platform {platform!r}: expected one of {', '.join(PLATFORMS)}",
            hint="`conveyor ci init github` or `conveyor ci init gitlab`",
        ) from None


def _workdir(root: Path, project: Path) -> str:
    try:
        relative = project.resolve().relative_to(root.resolve())
    except ValueError:
        raise InvalidValue(
            f"the project {project} is not inside the repository {root}",
            hint="write the workflows at the top of the repository that holds conveyor.yaml",
        ) from None
    workdir = PurePosixPath(*relative.parts).as_posix()
    if not _SAFE_DIR.fullmatch(workdir):
        raise InvalidValue(
            f"the project's directory {workdir!r} holds characters the workflow files "
            "cannot carry unquoted",
            hint="rename it to letters, digits, '.', '_', '-' and '/'",
        )
    return workdir


def _model_value(project: Path) -> str:
    from conveyor.config import load_config
    from conveyor.project import CONFIG_FILE

    path = project / CONFIG_FILE
    if not path.is_file():
        return MODEL_PLACEHOLDER
    evaluation = load_config(path).evaluation
    if evaluation is None or not evaluation.name:
        return MODEL_PLACEHOLDER
    return json.dumps(evaluation.name)  # a JSON string is a YAML double-quoted scalar


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise PathError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PathError(f"cannot write {path}: {exc.strerror}") from exc
