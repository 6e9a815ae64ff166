"""``load_model``: any model URI to an object with one ``predict``."""

from __future__ import annotations

from typing import Any

from conveyor.tracking import Where


def load_model(uri: str, *, trusted: bool = False) -> Any:
    """Load ``models:/churn@champion``, ``models:/churn/3`` or ``runs:/<run>/model``.

    The model directory is restored from the artifact store (every file verified against
    its digest) and loaded by its flavor. ``trusted=True`` is needed only for the
    python-function flavor, which unpickles code.

    Example::

        model = conveyor.load_model("models:/churn@champion")
        model.predict(frame)
    """
    from conveyor.artifacts import ArtifactStore
    from conveyor.model_files import fetch_tree
    from conveyor.modelpack import load_model_dir
    from conveyor.registry import Registry, model_cache_dir
    from conveyor.store import open_store

    where = Where.from_environment()
    store = open_store(where.db_url)
    try:
        resolved = Registry(store, None).resolve(uri)
    finally:
        store.close()
    directory = fetch_tree(
        ArtifactStore(where.artifacts_url),
        resolved.model.digest,
        "dir",
        model_cache_dir(where.root / ".conveyor"),
    )
    return load_model_dir(directory, trusted=trusted)
