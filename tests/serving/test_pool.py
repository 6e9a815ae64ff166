"""ModelPool: loading through the registry, one load per key, lookups that name what exists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conveyor.errors import UntrustedModel
from conveyor.registry import Registry
from conveyor.serving.errors import RequestError
from conveyor.serving.pool import ModelPool, load_pool
from conveyor.store import open_store
from conveyor.tracking import Where


@pytest.fixture
def where(served, monkeypatch: pytest.MonkeyPatch) -> Where:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.setenv("CONVEYOR_PROJECT_ROOT", str(served.root))
    return Where.from_environment()


def test_concurrent_loads_of_one_key_load_once(where: Where) -> None:
    pool = ModelPool()
    store = open_store(where.db_url)
    try:
        registry = Registry(store, None)
        with ThreadPoolExecutor(4) as threads:
            loaded = list(threads.map(lambda _: pool.load(registry, where, "cancer", 2), range(8)))
    finally:
        store.close()
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


def test_pyfunc_needs_a_trusted_pool(where: Where) -> None:
    with pytest.raises(UntrustedModel):
        load_pool(["quirky/1"], where)
    assert load_pool(["quirky/1"], where, trusted=True).names() == ["quirky"]
