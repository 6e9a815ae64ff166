"""Which installed distributions a model directory needs beyond those it declares.

A flavor's own list of requirements is a guess (``XGBClassifier`` needs scikit-learn, which
the xgboost flavor does not name); what the interpreter imports is not. So the model is
loaded and warmed, as the server will, in a fresh interpreter, and every top-level module
imported on the way is mapped to the distribution that installed it
(``importlib.metadata.packages_distributions``).

Some imports are opportunistic: scikit-learn imports torch *if it is installed* while skops
lists its estimators, and works without it. So each extra distribution (imported, but not in
the closure of what is declared) is checked: the model is loaded again with its modules
blocked, and it is needed only if that load fails::

    extra_distributions(Path("bundle/model"), declared={"xgboost-cpu", "numpy", ...})
    # ('scikit-learn',)
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from conveyor.errors import BundleError

# Run by a fresh interpreter: hide the top-level modules argv[2] names from the path finder
# (found nowhere, as if not installed), load and warm the model as conveyor.serving.bundle
# does, and print the top-level modules imported since start (not those site imported).
_TRACE = """\
import importlib.machinery, json, sys
hidden = set(json.loads(sys.argv[2]))
class Finder(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            return None
        return super().find_spec(name, path, target)
sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = Finder
before = set(sys.modules)
from conveyor.modelpack import load_model_dir
model = load_model_dir(sys.argv[1])
example = model.input_example()
if example is not None:
    model.predict(example)
print(json.dumps(sorted({name.partition(".")[0] for name in set(sys.modules) - before})))
"""


def extra_distributions(model_dir: Path, declared: Collection[str]) -> tuple[str, ...]:
    """The installed distributions, beyond ``declared`` (canonical names, closed under their
    requirements), without which the model in ``model_dir`` does not load and predict its
    input example. BundleError if it does not load even with everything installed here.
    """
    from packaging.utils import canonicalize_name

    owners = importlib.metadata.packages_distributions()
    modules = _trace(model_dir, (), check=True) or []
    imported: set[str] = {
        canonicalize_name(d) for module in modules for d in owners.get(module, ())
    }
    roots = _roots(imported - set(declared))
    if not roots or _trace(model_dir, _modules_of(roots, owners)) is not None:
        return ()  # the common case: one more load, with every extra blocked, succeeds
    return tuple(r for r in sorted(roots) if _trace(model_dir, _modules_of([r], owners)) is None)


def _roots(extra: set[str]) -> set[str]:
    """The distributions of ``extra`` that no other one of them requires: blocking a root
    blocks what only it imports (torch's sympy, scikit-learn's joblib)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    required = set()
    for name in extra:
        for text in importlib.metadata.requires(name) or ():
            required.add(canonicalize_name(Requirement(text).name))
    return extra - required


def _modules_of(distributions: Iterable[str], owners: Mapping[str, list[str]]) -> tuple[str, ...]:
    from packaging.utils import canonicalize_name

    wanted = set(distributions)
    return tuple(
        sorted(m for m, ds in owners.items() if wanted & {canonicalize_name(d) for d in ds})
    )


def _trace(model_dir: Path, blocked: Iterable[str], *, check: bool = False) -> list[str] | None:
    """The top-level modules loading the model imported with ``blocked`` blocked; None if it
    failed (BundleError instead when ``check``)."""
    command = [sys.executable, "-c", _TRACE, str(model_dir), json.dumps(list(blocked))]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return list(json.loads(done.stdout.strip().splitlines()[-1]))
    if check:
        raise BundleError(
            f"loading {model_dir} in a fresh interpreter, to find what it imports, failed "
            f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}",
            hint="the model must load with only what is installed here; install what the "
            "error names, then package again",
        )
    return None
