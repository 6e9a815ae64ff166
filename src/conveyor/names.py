"""The one rule for names a user gives to what a run stores (models, artifacts).

A logged model's or artifact's name becomes one path component: the model is built in
``<tmp>/<name>`` and named by ``runs:/<run>/<name>``. So a name is a single component:
not empty, not ``.`` or ``..``, no ``/`` or ``\\``, no control characters, at most 255
characters. ``"../x"`` or ``"/abs"`` would otherwise write outside the temporary area and
give a URI nothing can resolve. (Registered model names have their own, stricter rule in
``registry.py``, because they appear in ``models:/`` URIs and CLI arguments.)

>>> check_name("model", "model name")
'model'
"""

from __future__ import annotations

from conveyor.errors import InvalidValue

MAX_LENGTH = 255


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a name, or None when it can."""
    if not value or not value.strip():
        return "it is empty"
    if value in (".", ".."):
        return "it names a directory, not an entry in one"
    if "/" in value or "\\" in value:
        return "it holds a path separator; a name is one path component"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "it holds a control character"
    if len(value) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    return None


def check_name(value: str, what: str) -> str:
    """``value`` if it is a valid name, else InvalidValue saying why (``what``: "model name")."""
    problem = name_problem(value) if isinstance(value, str) else "it is not a string"
    if problem:
        raise InvalidValue(
            f"{what} {value!r} is not usable: {problem}",
            hint="use a plain name such as 'model' or 'report.html'",
        )
    return value
