"""Serving a bundle that ``conveyor package`` built (see :mod:`conveyor.packaging`).

A bundle needs no store, registry or database: :func:`serve_bundle` checks ``model/`` against
its digest, loads it into a one-model :class:`ModelPool` (pickle-free flavors only, as for
``conveyor serve``) and serves it with the gateway's app, metrics, batching and uvicorn
settings. The bundle's ``serve.py`` calls :func:`main`::

    serve_bundle("bundle", host="0.0.0.0", port=8080)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import ConfigError, ConveyorError, CorruptObject, ModelError
from conveyor.ids import utcnow
from conveyor.modelpack import MODEL_DIR
from conveyor.settings import environment, export, variable

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from conveyor.modelpack import LoadedModel
    from conveyor.serving.metrics import GatewayMetrics
    from conveyor.serving.pool import ModelPool

FORMAT = 1
BUNDLE_FILE = "bundle.json"
BUNDLE_VAR = "CONVEYOR_BUNDLE_DIR"  # the bundle a uvicorn worker serves (``--workers N``)
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class BundleInfo:
    """What ``bundle.json`` says: the model served, and what built the bundle, where, when."""

    name: str
    version: int
    uri: str
    requested: str
    flavor: str
    digest: str
    conveyor: str
    python: str
    platform: str
    created_at: str
    format: int = FORMAT

    @classmethod
    def read(cls, directory: Path) -> BundleInfo:
        """Read ``directory/bundle.json``; ModelError if it is missing or malformed."""
        path = directory / BUNDLE_FILE
        if not path.is_file():
            raise ModelError(
                f"{directory} is not a Conveyor bundle: {path} does not exist",
                hint="build one with: conveyor package MODEL -o DIR",
            )
        try:
            info = cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{path} is not a valid bundle description: {exc}") from exc
        if info.format != FORMAT or type(info.version) is not int:
            raise ModelError(f"{path} has format {info.format!r}; this Conveyor reads {FORMAT}")
        return info


def load_bundle(directory: str | os.PathLike[str]) -> ModelPool:
    """A pool serving the bundle's model, checked against its digest, loaded and warmed.

    CorruptObject when ``model/`` is not what was packaged; UntrustedModel for a flavor that
    would unpickle code (never in a bundle ``conveyor package`` built).
    """
    from conveyor.hashing import Hasher
    from conveyor.serving.pool import ModelPool, Served, resident_bytes
    from conveyor.serving.watcher import warm

    root = Path(directory)
    info = BundleInfo.read(root)
    resident, started = resident_bytes(), time.perf_counter()
    digest = Hasher(root, None).hash_path(MODEL_DIR).digest
    if digest != info.digest:
        raise CorruptObject(
            f"{root / MODEL_DIR} does not match the digest in {BUNDLE_FILE} "
            f"({digest[:12]} instead of {info.digest[:12]}): its files were changed",
            digest=info.digest,
            hint="package the model again: conveyor package MODEL -o DIR --force",
        )
    model = _load_model(root)
    took = time.perf_counter() - started
    served = Served(
        info.name, info.version, info.uri, model, utcnow(), took, resident_bytes() - resident
    )
    warm(served)
    pool = ModelPool()
    pool.add(served)
    return pool


def _load_model(root: Path) -> LoadedModel:
    """The bundle's model; a library missing here gets a hint a bundle can follow (it is
    installed with --no-deps, so an extra such as conveyor-ml[models] would not help)."""
    from conveyor.modelpack import load_model_dir

    try:
        return load_model_dir(root / MODEL_DIR)
    except ModelError as exc:
        if not isinstance(exc.__cause__, ImportError):
            raise
        raise ModelError(
            exc.message,
            hint=f"{root / 'requirements.txt'} lacks a distribution the model needs: package "
            "the model again with this Conveyor (conveyor package MODEL -o DIR --force), "
            "which pins what loading the model imports, and install the new bundle",
        ) from exc.__cause__


def bundle_app(
    directory: str | os.PathLike[str], *, metrics: GatewayMetrics | None = None
) -> Starlette:
    """The gateway's app over the bundle's model, with Prometheus metrics (a fresh
    :class:`GatewayMetrics` unless ``metrics`` is given)."""
    from conveyor.serving.app import create_app
    from conveyor.serving.metrics import GatewayMetrics
    from conveyor.serving.server import prepare_to_serve

    return create_app(
        load_bundle(directory),
        metrics=metrics if metrics is not None else GatewayMetrics(),
        on_startup=[prepare_to_serve],
    )


def from_environment() -> Starlette:
    """The app of one uvicorn worker: the bundle ``CONVEYOR_BUNDLE_DIR`` names, its metrics
    in ``PROMETHEUS_MULTIPROC_DIR`` when that is set."""
    from conveyor.serving.metrics import MULTIPROC_VAR, GatewayMetrics

    directory = variable(BUNDLE_VAR)
    if not directory:
        raise ConfigError(f"{BUNDLE_VAR} must name the bundle directory to serve")
    metrics = GatewayMetrics(multiprocess_dir=variable(MULTIPROC_VAR))
    return bundle_app(directory, metrics=metrics)


def serve_bundle(
    directory: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = 1,
) -> None:
    """Serve the bundle until interrupted, as ``conveyor serve`` would serve its model.

    With several workers each loads the model itself (uvicorn factory
    ``conveyor.serving.bundle:from_environment``) and metrics go through a temporary
    ``PROMETHEUS_MULTIPROC_DIR``.

    >>> serve_bundle("bundle", host="0.0.0.0", port=8080, workers=2)  # doctest: +SKIP
    """
    import uvicorn

    from conveyor.serving.metrics import GatewayMetrics
    from conveyor.serving.server import multiprocess_metrics, uvicorn_options

    root = Path(directory).resolve()
    options = uvicorn_options(host, port)
    if workers == 1:
        uvicorn.run(bundle_app(root, metrics=GatewayMetrics()), **options)
        return
    BundleInfo.read(root)  # a directory that is no bundle fails here, not in every worker
    export({BUNDLE_VAR: str(root)})
    with multiprocess_metrics():
        target = f"{__name__}:from_environment"
        uvicorn.run(target, factory=True, workers=workers, **options)


def main(
    directory: str | os.PathLike[str],
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """``serve.py``'s command line; returns the exit code (errors printed, no traceback).

    >>> main(Path(__file__).parent, ["--port", "9000"])  # doctest: +SKIP
    """
    try:
        args = _arguments(argv, environment() if environ is None else environ)
        info = BundleInfo.read(Path(directory))
        url = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{args.port}"
        print(f"serving {info.name}/{info.version} ({info.flavor}) on {url}", flush=True)
        serve_bundle(directory, host=args.host, port=args.port, workers=args.workers)
    except ConveyorError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    return 0


def _arguments(argv: list[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="serve.py", description="Serve this bundle's model (see README.md)."
    )
    parser.add_argument("--host", default=environ.get("HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=_env_int(environ, "PORT", DEFAULT_PORT))
    parser.add_argument("--workers", type=int, default=_env_int(environ, "WORKERS", 1))
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536 or args.workers < 1:
        parser.error("--port must be 1..65535 and --workers at least 1")
    return args


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name) or str(default)
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number") from None
