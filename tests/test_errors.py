"""The error tree: the one drawn in errors.py's docstring is the one defined, and every
class in it is one Conveyor raises (or catches), not a name a caller waits for in vain."""

from __future__ import annotations

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
