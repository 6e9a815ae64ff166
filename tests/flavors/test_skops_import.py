"""Loading a scikit-learn model does not import torch (3.3 s and ~220 MB per process).

skops lists scikit-learn's estimators when first imported, walking scikit-learn's array-API
shim for torch, which imports torch whenever it is installed (``flavors/skops_import.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from conveyor.flavors.sklearn import SklearnFlavor

pytest.importorskip("torch")  # without torch installed there is nothing to hold back

LOAD = """
import json, sys
from pathlib import Path
from conveyor.flavors.sklearn import SklearnFlavor
model = SklearnFlavor().load(Path(sys.argv[1]))
model.predict([[0.1, 0.2, 0.3]])
torch_after_load = "torch" in sys.modules
import sklearn.externals.array_api_compat.torch  # held back only while skops was imported
print(json.dumps({"torch_after_load": torch_after_load, "shim": "torch" in sys.modules}))
"""


def test_a_scikit_learn_model_loads_without_importing_torch(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((20, 3))
    SklearnFlavor().save(LogisticRegression().fit(x, np.arange(20) % 2), tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(tmp_path)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"torch_after_load": False, "shim": True}
