"""A project on disk: where it is, and its pipeline (parsed once, then cached).

Kept free of heavy imports: ``conveyor status`` and a no-op ``conveyor run`` must answer in
well under 0.2 s, and pydantic alone costs ~60 ms to import and build. So the pipeline
derived from ``conveyor.yaml`` is cached in ``.conveyor/pipeline.json`` under the BLAKE3 of
the file's bytes (and this module's format version); any edit to the file changes the
digest, and the file is validated again with the full schema.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tempfile
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import PathError, ProjectNotFound
from conveyor.hashing import hash_bytes

if TYPE_CHECKING:
    from conveyor.config import ProjectConfig
    from conveyor.pipeline.spec import Pipeline

CONFIG_FILE = "conveyor.yaml"
DEFAULT_PARAMS_FILE = "params.yaml"
PIPELINE_CACHE = "pipeline.json"
PIPELINE_CACHE_FORMAT = "2"  # 2: validation: entries became validate-NAME stages


@dataclass(frozen=True)
class Project:
    """A directory holding ``conveyor.yaml``."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def state_dir(self) -> Path:
        """``.conveyor/``: the local database, objects, caches and logs (never committed)."""
        return self.root / ".conveyor"

    @cached_property
    def config(self) -> ProjectConfig:
        """The validated ``conveyor.yaml`` (errors name file, line and field)."""
        from conveyor.config import load_config

        return load_config(self.config_path)

    @cached_property
    def pipeline(self) -> Pipeline:
        """The checked DAG of stages, from the cache when ``conveyor.yaml`` is unchanged."""
        return _load_pipeline(self)


def find_root(start: Path | None = None) -> Path:
    """Return the nearest directory at or above ``start`` that holds ``conveyor.yaml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ProjectNotFound(
        f"no {CONFIG_FILE} in {here} or any parent directory",
        hint="run `conveyor init` to create one, or cd into your project",
    )


def load_project(start: Path | None = None) -> Project:
    """The project around ``start`` (default: the working directory)."""
    return Project(find_root(start))


def _load_pipeline(project: Project) -> Pipeline:
    from conveyor.pipeline.spec import build_pipeline, pipeline_from_dict

    try:
        raw = project.config_path.read_bytes()
    except OSError:
        raw = b""
    digest = hash_bytes(PIPELINE_CACHE_FORMAT.encode() + b"\0" + raw)
    cache = project.state_dir / PIPELINE_CACHE
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("digest") == digest:
            return pipeline_from_dict(cached["pipeline"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # a damaged cache is rebuilt
    pipeline = build_pipeline(project.config)
    _write_cache(cache, {"digest": digest, "pipeline": asdict(pipeline)})
    return pipeline


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pipeline.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs a re-parse next time


def path_problem(value: str) -> str | None:
    """Say why a declared path is unusable, or return None when it is fine."""
    if not value.strip():
        return "the path is empty"
    normal = normalize_path(value)
    if normal.startswith(("/", "~")) or re.match(r"^[A-Za-z]:/", normal):
        return f"{value!r} is absolute; paths must stay inside the project"
    if normal == ".." or normal.startswith("../"):
        return f"{value!r} leaves the project directory"
    if normal == ".":
        return f"{value!r} is the whole project; name a file or directory inside it"
    return None


def normalize_path(value: str) -> str:
    """The canonical spelling of a declared path: posix separators, no ``./`` or ``//``."""
    return posixpath.normpath(value.replace("\\", "/"))


def check_outs_inside(root: Path, stage: str, outs: tuple[str, ...]) -> None:
    """Raise unless each out, with every symbolic link on its way followed, lies inside
    ``root``: a run deletes and rewrites its outs, and must never do so elsewhere.

    The out itself may be a link (it is replaced, never written through); its directory
    may not lead out of the project.
    """
    top = root.resolve()
    for out in outs:
        path = (root / out).parent.resolve() / posixpath.basename(out)
        if not path.is_relative_to(top):
            raise PathError(
                f"stage {stage!r}: out {out!r} resolves to {path}, outside the project {top}",
                hint="a directory on its way is a symbolic link out of the project; replace "
                "the link with a directory, or declare an out inside the project; nothing "
                "was changed",
            )
