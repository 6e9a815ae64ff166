"""``conveyor package``: a self-contained bundle of one registered model version.

:func:`build_bundle` (``conveyor package churn@champion -o bundle``) writes::

    bundle/bundle.json        which model (name, version, uri, flavor, digest), built by what, when
    bundle/model/             the model directory, restored from the artifact store (verified)
    bundle/requirements.txt   every distribution serving needs, pinned to what is installed here
    bundle/wheels/            wheels of what is installed from a local source (conveyor-ml in a
                              checkout); what came from an index is pinned ``name==version``
    bundle/serve.py           python serve.py [--host H] [--port P] [--workers N]
    bundle/Dockerfile, .dockerignore, README.md

Serving a bundle (no store, registry or database) is :mod:`conveyor.serving.bundle`::

    build_bundle("churn@champion", "bundle", Context.resolve())
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING
from urllib.parse import urlparse
from urllib.request import url2pathname

from conveyor import __version__
from conveyor.errors import BundleError, ConflictError, NotFoundError, UntrustedModel
from conveyor.ids import new_id, utcnow
from conveyor.model_imports import extra_distributions
from conveyor.modelpack import MODEL_DIR
from conveyor.serving.bundle import BUNDLE_FILE, DEFAULT_PORT, BundleInfo

if TYPE_CHECKING:
    from packaging.requirements import Requirement

    from conveyor.context import Context
    from conveyor.serving.pool import Served

REQUIREMENTS_FILE = "requirements.txt"
WHEELS_DIR = "wheels"
DISTRIBUTION = "conveyor-ml"
DATA_LIBRARIES = ("numpy", "pandas", "pyarrow")
SYSTEM_PACKAGES = {"lightgbm": ("libgomp1",)}  # shared libraries python:X.Y-slim lacks


@dataclass(frozen=True)
class Bundle:
    """A bundle just built: where, what it serves, its requirement lines, and notes for you."""

    directory: Path
    info: BundleInfo
    requirements: tuple[str, ...]
    notes: tuple[str, ...] = ()


def build_bundle(
    uri: str, directory: str | os.PathLike[str], ctx: Context, *, force: bool = False
) -> Bundle:
    """Write the bundle of the registered version ``uri`` names into ``directory``.

    It is built under a temporary name beside ``directory`` and renamed into place. An
    existing non-empty ``directory`` is refused, unless ``force`` and it holds a bundle.

    >>> build_bundle("churn@champion", "bundle", Context.resolve())  # doctest: +SKIP
    Bundle(directory=PosixPath('/home/me/bundle'), ...)
    """
    target = Path(directory).absolute()
    _check_target(target, force)
    with _writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        building = target.parent / f".{target.name}.tmp-{new_id()}"
        building.mkdir()
        try:
            bundle = _build(uri, ctx, building)
            _make_readable(building)
            _replace(building, target)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    return replace(bundle, directory=target)


def _build(uri: str, ctx: Context, root: Path) -> Bundle:
    served, digest = _fetch_model(uri, ctx, root / MODEL_DIR)
    info = BundleInfo(
        name=served.name,
        version=served.version,
        uri=served.uri,
        requested=uri,
        flavor=served.flavor,
        digest=digest,
        conveyor=__version__,
        python=platform.python_version(),
        platform=sysconfig.get_platform(),
        created_at=utcnow().isoformat(),
    )
    saved_with = served.model.info.requirements
    declared = pinned_requirements(saved_with)
    pins = pinned_requirements([*saved_with, *extra_distributions(root / MODEL_DIR, declared)])
    lines, wheels = _install_lines(pins, root / WHEELS_DIR)
    _write_files(root, info, lines, wheels, _example_body(served))
    return Bundle(root, info, tuple(lines), _drift(saved_with, pins))


def _drift(
    saved_with: Mapping[str, str], pins: Mapping[str, importlib.metadata.Distribution]
) -> tuple[str, ...]:
    """A note per library the model was saved with in another version than the one pinned."""
    from packaging.utils import canonicalize_name

    notes = []
    for name, saved in sorted(saved_with.items()):
        pinned = pins[canonicalize_name(name)].version
        if pinned != saved:
            notes.append(
                f"{name} is pinned to the installed {pinned}; the model was saved with {saved}"
            )
    return tuple(notes)


def _fetch_model(uri: str, ctx: Context, target: Path) -> tuple[Served, str]:
    """Load the version as the gateway does, then restore its files (verified) to ``target``."""
    from conveyor.model_files import fetch_tree
    from conveyor.registry import Registry
    from conveyor.serving.pool import ModelPool

    registry = Registry(ctx)
    try:
        served = ModelPool(trusted=False).load_uri(registry, ctx, uri)
    except UntrustedModel as exc:
        raise UntrustedModel(
            f"{uri} cannot be packaged: {exc.message}",
            hint="a bundle serves only flavors that load without running code from the "
            "model's files, as conveyor serve does (sklearn, xgboost, lightgbm, onnx, torch)",
        ) from exc
    digest = registry.resolve(served.uri).model.digest
    fetch_tree(ctx.artifacts, digest, "dir", target.parent)
    os.rename(target.parent / digest, target)
    return served, digest


def pinned_requirements(
    model_requirements: Iterable[str],
) -> dict[str, importlib.metadata.Distribution]:
    """Every installed distribution serving needs, by canonical name: the transitive closure
    of conveyor-ml (itself included), its ``serving`` web stack, numpy, pandas, pyarrow and
    the distributions ``model_requirements`` names (those the model was saved with, and
    those it was found to import: :mod:`conveyor.model_imports`), markers evaluated for this
    interpreter.

    NotFoundError names a needed distribution that is not installed.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        own = [Requirement(text) for text in importlib.metadata.requires(DISTRIBUTION) or ()]
    except importlib.metadata.PackageNotFoundError as exc:
        raise NotFoundError(
            f"{DISTRIBUTION} is not installed, so its requirements cannot be pinned",
            hint="pip install 'conveyor-ml[serving]' (or pip install -e '.[serving]')",
        ) from exc
    web = [
        r for r in own if _applies(r, {"", "serving"}) and canonicalize_name(r.name) != DISTRIBUTION
    ]
    names = (DISTRIBUTION, *DATA_LIBRARIES, *model_requirements)
    return _closure([*web, *map(Requirement, names)])


def _closure(roots: Iterable[Requirement]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions ``roots`` need, transitively, by canonical name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, importlib.metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    queue = list(roots)
    while queue:
        wanted = queue.pop()
        key = canonicalize_name(wanted.name)
        extras = {(key, extra) for extra in {"", *wanted.extras}} - seen
        if not extras:
            continue
        seen |= extras
        if key not in found:
            found[key] = _installed(wanted)
        needs = map(Requirement, found[key].requires or ())
        queue += [need for need in needs if _applies(need, {extra for _, extra in extras})]
    return found


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in extras)


def _installed(requirement: Requirement) -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        raise NotFoundError(
            f"{requirement.name} is needed to serve the bundle but is not installed here",
            hint=f"pip install '{requirement}' (for the web stack: pip install "
            "'conveyor-ml[serving]'), then package again",
        ) from None


def _install_lines(
    pins: Mapping[str, importlib.metadata.Distribution], wheels: Path
) -> tuple[list[str], bool]:
    """``name==version`` per distribution from an index; a wheel in ``wheels`` for each one
    installed from a local directory or file. Returns the lines and whether wheels were built.
    """
    lines, local = [], []
    for _, dist in sorted(pins.items()):
        source = _local_source(dist)
        if source is None:
            lines.append(f"{dist.metadata['Name']}=={dist.version}")
        else:
            local.append(f"./{WHEELS_DIR}/{_build_wheel(source, wheels).name}")
    return lines + local, bool(local)


def _local_source(dist: importlib.metadata.Distribution) -> Path | None:
    """The directory or file ``dist`` was installed from, if it was a local one (PEP 610)."""
    text = dist.read_text("direct_url.json")
    url = json.loads(text).get("url", "") if text else ""
    if not url.startswith("file:"):
        return None
    return Path(url2pathname(urlparse(url).path))


def _build_wheel(source: Path, wheels: Path) -> Path:
    """``pip wheel`` one local source into ``wheels``; the path of the wheel made.

    With what is installed here when that satisfies the source's build requirements (no
    index needed); else in build isolation, pip fetching them as ``pip install .`` did. A
    ``python -m venv`` ships setuptools 65, which cannot read our pyproject.toml.
    """
    wheels.mkdir(exist_ok=True)
    before = set(wheels.iterdir())
    missing = _missing_build_requirements(source)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps"]
    command += [] if missing else ["--no-build-isolation"]
    command += ["--disable-pip-version-check", "--quiet", "--wheel-dir", str(wheels), str(source)]
    with _source_lock(source):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    made = sorted(set(wheels.iterdir()) - before)
    if done.returncode != 0 or len(made) != 1:
        raise BundleError(
            f"building a wheel of {source} failed (pip exited {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}",
            hint=f"run it yourself to see why: {' '.join(command)}"
            + (
                f" (it builds in isolation because {', '.join(missing)} is not installed "
                "here, so pip must fetch it from your index)"
                if missing
                else ""
            ),
        )
    return made[0]


def _missing_build_requirements(source: Path) -> list[str]:
    """The build requirements of ``source``'s pyproject.toml that the installed
    distributions do not satisfy (none for a source without one)."""
    import tomllib

    from packaging.requirements import Requirement

    pyproject = source / "pyproject.toml"
    if not pyproject.is_file():
        return []
    with pyproject.open("rb") as file:
        requires = tomllib.load(file).get("build-system", {}).get("requires", [])
    missing = []
    for text in requires:
        need = Requirement(text)
        if need.marker is not None and not need.marker.evaluate():
            continue
        try:
            have = importlib.metadata.version(need.name)
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have is None or not need.specifier.contains(have, prereleases=True):
            missing.append(text)
    return missing


@contextmanager
def _source_lock(source: Path) -> Iterator[None]:
    """One wheel build at a time per source tree (setuptools builds in ``source/build``)."""
    import fcntl
    import hashlib
    import tempfile

    name = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"conveyor-wheel-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _example_body(served: Served) -> str:
    """A v1 request body with the model's first example row, for the README ("" if none)."""
    from conveyor.flavors.signature import is_frame

    example = served.model.input_example()
    if example is None or not is_frame(example):
        return ""
    rows = example.head(1).to_json(orient="records")  # type: ignore[union-attr]
    return "" if "'" in rows else '{"instances": ' + rows + "}"


def _write_files(
    root: Path, info: BundleInfo, lines: list[str], wheels: bool, example: str
) -> None:
    python = ".".join(info.python.split(".")[:2])
    apt = " ".join(SYSTEM_PACKAGES.get(info.flavor, ()))
    values = {
        **{key: str(value) for key, value in asdict(info).items()},
        "python_minor": python,
        "image": f"{info.name.lower()}:{info.version}",
        "copy_wheels": f"COPY {WHEELS_DIR}/ ./{WHEELS_DIR}/\n" if wheels else "",
        "apt": APT_LINE.format(packages=apt) if apt else "",
        "ready": f"http://127.0.0.1:{DEFAULT_PORT}/v2/health/ready",
        "example": example or '{"instances": [[...feature values...]]}',
    }
    header = REQUIREMENTS_HEADER.substitute(values)
    texts = {
        BUNDLE_FILE: json.dumps(asdict(info), indent=2) + "\n",
        REQUIREMENTS_FILE: header + "".join(f"{line}\n" for line in lines),
        "serve.py": SERVE_PY,
        "Dockerfile": DOCKERFILE.substitute(values),
        ".dockerignore": DOCKERIGNORE,
        "README.md": README.substitute(values),
    }
    for name, text in texts.items():
        (root / name).write_text(text, encoding="utf-8")


def _check_target(target: Path, force: bool) -> None:
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    if not force:
        raise ConflictError(
            f"{target} already exists and is not an empty directory",
            hint="choose another -o DIR, or add --force to replace an earlier bundle there",
        )
    if not (target / BUNDLE_FILE).is_file():
        raise ConflictError(
            f"{target} is not a bundle (it has no {BUNDLE_FILE}); --force replaces only a bundle",
            hint="choose another -o DIR, or empty it yourself",
        )


def _replace(building: Path, target: Path) -> None:
    """Rename ``building`` onto ``target``, moving an earlier bundle there aside first."""
    old = None
    if target.exists() and any(target.iterdir()):
        old = target.parent / f".{target.name}.old-{new_id()}"
        os.rename(target, old)
    try:
        os.rename(building, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _make_readable(root: Path) -> None:
    """Files 0644 and directories 0755, so the image's unprivileged user can read them."""
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    """The one place where file-system errors of a build become BundleError."""
    try:
        yield
    except OSError as exc:
        raise BundleError(
            f"cannot write the bundle {target}: {exc}",
            hint="check that its parent directory is writable and has space",
        ) from exc


REQUIREMENTS_HEADER = Template("""\
# $name/$version ($flavor), packaged by conveyor $conveyor on Python $python ($platform).
# Everything serving needs, pinned to what was installed. From this directory:
#   pip install --no-deps -r requirements.txt
""")

SERVE_PY = '''\
"""Serve the model in this directory: python serve.py [--host H] [--port P] [--workers N].

Written by `conveyor package`; HOST, PORT and WORKERS set the defaults. See README.md.
"""

from pathlib import Path

from conveyor.serving.bundle import main

if __name__ == "__main__":
    raise SystemExit(main(Path(__file__).resolve().parent))
'''

APT_LINE = (
    "RUN apt-get update && apt-get install -y --no-install-recommends {packages} \\\n"
    "    && rm -rf /var/lib/apt/lists/*\n"
)

DOCKERFILE = Template("""\
# $name/$version ($flavor), packaged by conveyor $conveyor. See README.md.
FROM python:$python_minor-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
${apt}RUN useradd --create-home --uid 10001 conveyor
WORKDIR /bundle
COPY requirements.txt ./
${copy_wheels}RUN pip install --no-cache-dir --no-deps -r requirements.txt
COPY bundle.json serve.py ./
COPY model/ ./model/
USER conveyor
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('$ready', timeout=2)"]
CMD ["python", "serve.py", "--host", "0.0.0.0", "--port", "8080"]
""")

DOCKERIGNORE = """\
# The image needs only what the Dockerfile copies.
.venv/
venv/
**/__pycache__/
**/*.pyc
"""

README = Template("""\
# $name/$version ($flavor), packaged by Conveyor

- model: `$uri` (asked for as `$requested`), content digest `$digest`
- packaged by conveyor $conveyor on Python $python ($platform) at $created_at

`model/` is the model directory as registered (checked against the digest at start),
`requirements.txt` pins everything the server needs, `wheels/` holds what was installed from
a local source. Serving it needs no Conveyor project, store, registry or database.

## Run it in a virtualenv (from this directory, with Python $python_minor)

    python$python_minor -m venv .venv
    .venv/bin/pip install --no-deps -r requirements.txt
    .venv/bin/python serve.py --port 8080    # loopback only; --host 0.0.0.0 to expose it

`serve.py` takes `--host`, `--port` and `--workers`; `HOST`, `PORT` and `WORKERS` set their
defaults (127.0.0.1, 8080, 1).

## Run it with Docker

    docker build -t $image .
    docker run --rm -p 8080:8080 $image

## Ask it

    curl -s localhost:8080/v2/health/ready
    curl -s localhost:8080/v1/models/$name:predict -H 'Content-Type: application/json' \\
        -d '$example'

It speaks what `conveyor serve` speaks: Open Inference Protocol v2
(`/v2/models/$name/infer`), TF-Serving v1 (`/v1/models/$name:predict`), MLflow
(`/invocations`), with Prometheus metrics on `/metrics`.
""")
