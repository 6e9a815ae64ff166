"""ModelPool: loading through the registry, one load per key, lookups that name what exists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
