"""``load_model``: any model URI to an object with one ``predict``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.context import Context
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
    from conveyor.tracking import sdk_context

    ctx = sdk_context()
    return load_resolved(Registry(ctx).resolve(uri), ctx, trusted=trusted)


def load_resolved(resolved: Resolved, ctx: Context, *, trusted: Trust = False) -> LoadedModel:
    """Restore a resolved model's directory (verified) and load it by its flavor."""
    from conveyor.model_files import fetch_tree
    from conveyor.modelpack import load_model_dir

    directory = fetch_tree(ctx.artifacts, resolved.model.digest, "dir", ctx.model_cache)
    return load_model_dir(directory, trusted=trusted)
