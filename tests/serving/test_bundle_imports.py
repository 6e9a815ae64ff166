"""A packaged bundle serves with only what its model needs: the server's own imports must
not reach for scipy (an ONNX bundle does not install it), as the live profiles' drift
statistics once made them do. The slow, real check is test_package_venv.py; this one runs
in a second, with scipy hidden from the import system."""

from __future__ import annotations

import subprocess
import sys

HIDE_AND_IMPORT = """
import importlib.machinery, sys
class Hidden(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] == "scipy":
            return None
        return super().find_spec(name, path, target)
sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = Hidden
import conveyor.serving.bundle, conveyor.serving.asgi
from conveyor.serving.server import multiprocess_metrics, uvicorn_options
print("scipy" in sys.modules)
"""


def test_the_bundle_server_imports_without_scipy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDE_AND_IMPORT], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
