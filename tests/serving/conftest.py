"""A project with real registered models, loaded into pools once per test session.

``cancer`` versions 1 and 2: scikit-learn LogisticRegression pipelines on breast-cancer
(C=1.0 and C=0.01). ``quirky`` version 1: a python-function model that sleeps when the first
feature is negative and raises when it is 13 (loaded only by a ``trusted=True`` pool).
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import conveyor as cv
from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.registry import Registry
from conveyor.serving.pool import ModelPool

CONFIG = 'stages:\n  noop: {cmd: "true"}\n'


@dataclass(frozen=True)
class Served:
    """What the serving tests share: the pools, the in-process models and the features."""

    root: Path
    pool: ModelPool
    trusted_pool: ModelPool
    features: pd.DataFrame
    models: dict[int, object]


def _quirky_model() -> object:
    class Quirky:
        """Sleeps 3 s on a negative first value, raises on 13, else predicts the first value."""

        def predict(self, data: pd.DataFrame) -> list[float]:
            first = data.iloc[:, 0]
            if (first == 13).any():
                raise RuntimeError("thirteen is unlucky")
            if (first < 0).any():
                time.sleep(3)
            return list(first * 2)

    return Quirky()


def _log(model: object, example: pd.DataFrame, flavor: str | None = None) -> None:
    with cv.start_run():
        cv.log_model(model, "model", input_example=example, flavor=flavor)
    tracking.close_stores()


def _register(*args: str) -> None:
    assert main(["models", *args]) == 0


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """Train, log, register and load the models of the module docstring."""
    root = tmp_path_factory.mktemp("serving") / "project"
    root.mkdir()
    (root / "conveyor.yaml").write_text(CONFIG, encoding="utf-8")
    frame = load_breast_cancer(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    models: dict[int, object] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONVEYOR_DB_URL", raising=False)
        patch.delenv("CONVEYOR_ARTIFACTS", raising=False)
        # another module's fixture may hold a project root for its lifetime (test_package_venv's
        # `flavored`): the models below would be logged into that project instead
        patch.delenv("CONVEYOR_PROJECT_ROOT", raising=False)
        patch.chdir(root)
        for version, c in ((1, 1.0), (2, 0.01)):
            models[version] = make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(x, y)
            _log(models[version], x.head(3))
            _register("register", "latest", "--name", "cancer")
        _register("promote", "cancer", "1", "--to", "champion")
        _log(_quirky_model(), pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.25]}), "pyfunc")
        _register("register", "latest", "--name", "quirky")
        pool, trusted = ModelPool(), ModelPool(trusted=True)
        where = Context.resolve()
        try:
            registry = Registry(where)
            pool.load_uri(registry, where, "cancer@champion")
            pool.load_uri(registry, where, "models:/cancer/2")
            trusted.load_uri(registry, where, "quirky/1")
        finally:
            where.close()
            tracking.close_stores()
    return Served(root, pool, trusted, x, models)


@contextmanager
def live_server(app: object, **config: object) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port, in a thread; yields ``host:port``.

    ``config`` overrides uvicorn's settings (``conveyor serve``'s come from ``uvicorn_options``).
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    settings: dict[str, object] = {"log_level": "warning", "lifespan": "off", **config}
    server = uvicorn.Server(uvicorn.Config(app, **settings))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(name="live_server")
def live_server_fixture() -> object:
    """:func:`live_server`, for tests: ``with live_server(app) as address: ...``."""
    return live_server


LOGS = ("predictions", "labels", "profiles", "tmp")  # what other tests' gateways keep writing


def copy_project(source: Path, target: Path) -> Path:
    """A consistent copy of a served project, without the logs other tests write into it.

    Tests share the session's ``served`` project, and a gateway an earlier test started may
    still be flushing into it; ``copytree`` alone copied half-written log files and a
    SQLite file mid-transaction (a flaky failure). The logs are left out and the database
    is copied with SQLite's online backup, which is consistent by construction.
    """
    shutil.copytree(
        source,
        target,
        ignore=lambda folder, names: [n for n in names if n in LOGS or n.startswith("conveyor.db")],
    )
    with (
        sqlite3.connect(source / ".conveyor" / "conveyor.db") as src,
        sqlite3.connect(target / ".conveyor" / "conveyor.db") as dst,
    ):
        src.backup(dst)
    return target
