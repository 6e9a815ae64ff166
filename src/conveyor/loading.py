"""``load_model``: any model URI to an object with one ``predict``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.tracking import Where

if TYPE_CHECKING:
    from conveyor.flavors.base import Trust
    from conveyor.modelpack import LoadedModel
    from conveyor.registry import Resolved


def load_model(uri: str, *, trusted: Trust = False) -> Any:
    """Load ``models:/churn@champion``, ``models:/churn/3`` or ``runs:/<run>/model``.

    The model directory is restored from the artifact store (every file verified against
    its digest) and loaded by its flavor. A scikit-learn file that holds types outside
    Conveyor's trusted set is refused with UntrustedModel naming them; pass those names as
    ``trusted=["pkg.Type"]`` to load it anyway. ``trusted=True`` trusts everything and is
    needed for the python-function flavor, which unpickles code.

    Example::

        model = conveyor.load_model("models:/churn@champion")
        model.predict(frame)
    """
    from conveyor.registry import Registry
    from conveyor.store import open_store

    where = Where.from_environment()
    store = open_store(where.db_url)
    try:
        resolved = Registry(store, None).resolve(uri)
    finally:
        store.close()
    return load_resolved(resolved, where, trusted=trusted)


def load_resolved(resolved: Resolved, where: Where, *, trusted: Trust = False) -> LoadedModel:
    """Restore a resolved model's directory (verified) and load it by its flavor."""
    from conveyor.artifacts import ArtifactStore
    from conveyor.model_files import fetch_tree
    from conveyor.modelpack import load_model_dir
    from conveyor.registry import model_cache_dir

    directory = fetch_tree(
        ArtifactStore(where.artifacts_url),
        resolved.model.digest,
        "dir",
        model_cache_dir(where.root / ".conveyor"),
    )
    return load_model_dir(directory, trusted=trusted)
