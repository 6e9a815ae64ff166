"""ModelPool: loading through the registry, one load per key, lookups that name what exists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conveyor.context import Context
from conveyor.errors import UntrustedModel
from conveyor.registry import Registry
from conveyor.serving.errors import RequestError
from conveyor.serving.pool import ModelPool, load_pool


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
