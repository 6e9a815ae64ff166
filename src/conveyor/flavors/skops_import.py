"""``skops.io``, imported without importing torch.

When first imported, skops lists scikit-learn's estimators (``all_estimators``), which walks
every scikit-learn package, its array-API shim for torch included; that shim imports torch
whenever torch is installed. No scikit-learn model needs torch to load, yet every process
that loaded one paid 3.3 s and ~220 MB for it: every gateway worker, every ``conveyor
check``. While skops is first imported, the shim (only the shim: torch itself stays
importable by any other thread) is marked unimportable, which ``walk_packages`` skips; the
mark is removed afterwards, so scikit-learn's array API with torch still works later::

    skops_io = import_skops_io()
    skops_io.load(path, trusted=[...])
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

TORCH_SHIM = "sklearn.externals.array_api_compat.torch"
_first_import = threading.Lock()


def import_skops_io() -> ModuleType:
    """``skops.io``; the first call imports it with scikit-learn's torch shim held back."""
    module = sys.modules.get("skops.io")
    if module is not None:
        return module
    with _first_import:
        held_back = TORCH_SHIM not in sys.modules
        if held_back:
            sys.modules[TORCH_SHIM] = None  # type: ignore[assignment]  # import -> ImportError
        try:
            return importlib.import_module("skops.io")
        finally:
            if held_back and sys.modules.get(TORCH_SHIM, "") is None:
                del sys.modules[TORCH_SHIM]
