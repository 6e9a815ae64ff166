"""The local model cache: a copy that no longer matches its digest is fetched again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import conveyor as cv
from conveyor.context import Context
from conveyor.hashing import Hasher
from conveyor.registry import Registry
from conveyor.serving.pool import ModelPool

FEATURES, TARGET = load_breast_cancer(return_X_y=True, as_frame=True)


def _flip_a_byte(model: Path) -> None:
    path = model / "model" / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))


def _add_a_file(model: Path) -> None:
    (model / "model" / "extra.py").write_text("print('not part of the model')\n")


def _delete_a_file(model: Path) -> None:
    (model / "conveyor-model.json").unlink()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Context, str, np.ndarray]:
    """A project with one logged LogisticRegression; (where, its URI, its predictions)."""
    (tmp_path / "conveyor.yaml").write_text("stages:\n  s: {cmd: 'true'}\n", encoding="utf-8")
    for var in ("CONVEYOR_DB_URL", "CONVEYOR_ARTIFACTS", "CONVEYOR_PROJECT_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(FEATURES, TARGET)
    with cv.start_run():
        logged = cv.log_model(model, "model", input_example=FEATURES.head(3))
    where = Context.resolve()
    Registry(where).register(logged.uri, "cancer")
    where.close()
    return where, "models:/cancer/1", model.predict(FEATURES)


@pytest.mark.parametrize("tamper", [_flip_a_byte, _add_a_file, _delete_a_file])
def test_a_tampered_cache_copy_is_fetched_again(project, tamper: Callable[[Path], None]) -> None:
    where, uri, expected = project
    first = cv.load_model(uri)
    cached = first.directory
    digest = cached.name
    tamper(cached)

    try:
        served = ModelPool().load_uri(Registry(where), where, uri)  # the gateway's path
    finally:
        where.close()
    np.testing.assert_array_equal(served.model.predict(FEATURES), expected)
    assert served.model.directory == cached
    assert Hasher(cached.parent, None).hash_path(digest).digest == digest
    assert not (cached / "model" / "extra.py").exists()
