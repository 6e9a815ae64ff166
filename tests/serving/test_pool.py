"""ModelPool: loading through the registry, one load per key, lookups that name what exists."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import conveyor as cv
from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.errors import UntrustedModel
from conveyor.modelpack import save_model
from conveyor.registry import Registry
from conveyor.serving.errors import RequestError
from conveyor.serving.pool import ModelPool, load_pool
from conveyor.serving.watcher import build_gateway
from crafted_models import RUNSTRING, log_crafted, plant_code


@pytest.fixture
def where(served, monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.setenv("CONVEYOR_PROJECT_ROOT", str(served.root))
    return Context.resolve()


def test_concurrent_loads_of_one_key_load_once(where: Context) -> None:
    pool = ModelPool()
    try:
        registry = Registry(where)
        with ThreadPoolExecutor(4) as threads:
            loaded = list(threads.map(lambda _: pool.load(registry, where, "cancer", 2), range(8)))
    finally:
        where.close()
    assert len({id(served) for served in loaded}) == 1
    assert pool.versions("cancer") == [2]
    assert loaded[0].uri == "models:/cancer/2"
    assert loaded[0].load_seconds > 0


def test_lookups(served) -> None:
    pool = served.pool
    assert pool.names() == ["cancer"]
    assert pool.get("cancer").version == 2
    assert pool.get("cancer", 1).flavor == "sklearn"
    with pytest.raises(RequestError, match="served models: cancer") as unknown:
        pool.get("churn")
    assert unknown.value.status == 404
    with pytest.raises(RequestError, match="loaded versions: 1, 2"):
        pool.get("cancer", 3)


def test_pyfunc_needs_a_trusted_pool(where: Context) -> None:
    with pytest.raises(UntrustedModel):
        load_pool(["quirky/1"], where)
    assert load_pool(["quirky/1"], where, trusted=True).names() == ["quirky"]


def test_the_gateway_refuses_a_registered_model_that_plants_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``conveyor serve``'s loading path (build_gateway) on a real crafted skops file."""
    frame = load_breast_cancer(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    save_model(model, tmp_path / "model", input_example=x.head(3))
    marker = tmp_path / "pwned"
    plant_code(model, tmp_path / "model" / "model" / "model.skops", marker)
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text("stages:\n  s: {cmd: 'true'}\n", encoding="utf-8")
    for var in ("CONVEYOR_DB_URL", "CONVEYOR_ARTIFACTS", "CONVEYOR_PROJECT_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(project)
    logged = log_crafted(tmp_path / "model")
    assert main(["models", "register", logged.uri, "--name", "evil"]) == 0

    with pytest.raises(UntrustedModel, match=RUNSTRING):
        build_gateway(["evil/1"], Context.resolve(), poll=False)
    assert not marker.exists()


LOAD_BOTH = """
from conveyor.context import Context
from conveyor.serving.metrics import GatewayMetrics
from conveyor.serving.pool import load_pool

pool = load_pool(["small/1", "neighbours/1"], Context.resolve())
metrics = GatewayMetrics()
metrics.record_loads(pool)
print(metrics.render().decode())
"""


@pytest.mark.slow
def test_load_memory_is_the_resident_growth_of_a_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nearest-neighbours model keeps its 8 MB of training rows (and a tree over a copy of
    them): loading it in a fresh process, as a gateway worker does, grows RSS by about that.
    A small model is loaded first: the first load also imports the flavor's libraries."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(20_000, 50)), columns=[f"f{i}" for i in range(50)])
    y = (x["f0"] > 0).astype(int)
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text("stages:\n  s: {cmd: 'true'}\n", encoding="utf-8")
    for var in ("CONVEYOR_DB_URL", "CONVEYOR_ARTIFACTS", "CONVEYOR_PROJECT_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(project)
    models = {
        "small": LogisticRegression().fit(x.head(100), y.head(100)),
        "neighbours": KNeighborsClassifier(n_neighbors=3).fit(x, y),
    }
    for name, model in models.items():
        with cv.start_run():
            cv.log_model(model, "model", input_example=x.head(2))
        tracking.close_stores()
        assert main(["models", "register", "latest", "--name", name]) == 0

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "PROMETHEUS"))}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_BOTH],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    grew = {
        sample.labels["model"]: sample.value
        for family in text_string_to_metric_families(done.stdout)
        for sample in family.samples
        if sample.name == "conveyor_model_load_memory_bytes"
    }
    size = x.to_numpy().nbytes  # 8,000,000
    assert 0.75 * size < grew["neighbours"] < 5 * size, grew
    assert grew["small"] > 0  # the libraries it imported, mostly
