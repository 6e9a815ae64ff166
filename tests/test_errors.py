"""The error tree: the one drawn in errors.py's docstring is the one defined, and every
class in it is one Conveyor raises (or catches), not a name a caller waits for in vain."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from conveyor import errors

SRC = Path(errors.__file__).parent


def _defined() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, errors.ConveyorError)
        and value.__module__ == errors.__name__
    }


def test_the_docstring_draws_every_error_class_and_no_other() -> None:
    drawn = set(re.findall(r"(?:├──|└──)\s+(\w+)", errors.__doc__ or ""))
    assert drawn | {"ConveyorError"} == _defined()


def test_every_error_class_is_used_outside_errors_py() -> None:
    sources = "\n".join(
        p.read_text(encoding="utf-8") for p in SRC.rglob("*.py") if p != Path(errors.__file__)
    )
    unused = sorted(n for n in _defined() if not re.search(rf"\b{n}\b", sources))
    assert unused == []


# Subclasses of the tree defined elsewhere on purpose (docs/architecture.md, Errors): a refused
# request carries its HTTP status beside the gateway, and "no run is open" beside tracking.
DEFINED_ELSEWHERE = {"RequestError": "serving/errors.py", "NoActiveRun": "tracking.py"}


def _subclasses_outside_errors_py() -> dict[str, str]:
    """Every class in src/ (outside errors.py) that derives from a class of the tree, found
    by reading the source, so a module that nothing imports yet is seen too."""
    tree = _defined() | {"ConveyorError"}
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & tree:
                    found[node.name] = str(path.relative_to(SRC))
    return found


def test_every_error_a_user_can_see_is_defined_in_the_tree() -> None:
    outside = _subclasses_outside_errors_py()
    assert {n: p for n, p in outside.items() if DEFINED_ELSEWHERE.get(n) != p} == {}


def test_notify_raises_the_trees_delivery_failed() -> None:
    from conveyor import notify
    from conveyor.notify import base

    assert notify.DeliveryFailed is base.DeliveryFailed is errors.DeliveryFailed
    failed = errors.DeliveryFailed("hooks.example.com: 503", retryable=True, retry_after=2.0)
    assert (failed.retryable, failed.retry_after, failed.attempts) == (True, 2.0, 1)
    assert isinstance(failed, errors.ConveyorError)
