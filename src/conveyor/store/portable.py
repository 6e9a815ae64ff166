"""Text comparisons that give the same answer on SQLite and PostgreSQL.

Two places where the backends differ out of the box:

- SQLite's ``LIKE`` ignores ASCII case, PostgreSQL's does not: :func:`like` is
  case-sensitive on both (``GLOB`` on SQLite, whose wildcards it translates);
- SQLite's ``lower()`` folds ASCII letters only, PostgreSQL's ``ILIKE`` folds every letter
  its locale knows (``É`` and ``é`` too, or not, by the database's ``LC_CTYPE``):
  :func:`ilike` folds ASCII case only, on both, the one rule that is the same everywhere;
- PostgreSQL sorts text by the database's collation (``en_US`` puts ``a`` before ``B``),
  SQLite by code point: :func:`bytewise` sorts by code point on both (``COLLATE "C"``).

And one place where only SQLite needs telling: :func:`unindexed` keeps its planner from
driving a query by a column's index (unary ``+``), as a search that walks another index
in order asks.

All are SQLAlchemy constructs compiled per dialect, so the statement cache keeps working:
every value is a bound parameter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.expression import FunctionElement


def like(column: SQLCoreOperations[Any], pattern: str) -> ColumnElement[bool]:
    """``column LIKE pattern``, case-sensitive: ``%`` any run of characters, ``_`` one.

    There is no escape character: every other character, ``\\`` included, is literal.
    """
    return _Like(column, escape_like(pattern), _glob(pattern))


def ilike(column: SQLCoreOperations[Any], pattern: str) -> ColumnElement[bool]:
    """``column ILIKE pattern``: :func:`like` ignoring the case of ASCII letters only.

    ``'ÉLAN' ILIKE 'Élan'`` is true, ``'Élan' ILIKE 'élan'`` false, on every backend.
    """
    folded = _AsciiLower(literal(escape_like(pattern), String()))
    return _AsciiLower(column).like(folded, escape="\\")


def bytewise(column: SQLCoreOperations[str]) -> ColumnElement[str]:
    """``column`` compared and sorted by code point, whatever the database's collation."""
    return _Bytewise(column)


def unindexed(column: SQLCoreOperations[Any]) -> ColumnElement[Any]:
    """``column`` with the same value and type, which SQLite will not look up by an index."""
    return _Unindexed(column)


def escape_like(pattern: str) -> str:
    """The pattern for ``LIKE ... ESCAPE '\\'``: a backslash stands for itself."""
    return pattern.replace("\\", "\\\\")


_GLOB = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}


def _glob(pattern: str) -> str:
    """The GLOB pattern that matches what the LIKE ``pattern`` matches, case-sensitively."""
    return "".join(_GLOB.get(char, char) for char in pattern)


class _Like(FunctionElement[bool]):
    """Arguments: the column, the pattern in LIKE form, the pattern in GLOB form."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a comparison already: no "= 1" where booleans are ints


@compiles(_Like)
def _compile_like(element: _Like, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob_form = element.clauses
    return compiler.process(column.like(pattern, escape="\\"), **kw)


@compiles(_Like, "sqlite")
def _compile_glob(element: _Like, compiler: SQLCompiler, **kw: Any) -> str:
    column, _like_form, pattern = element.clauses
    return compiler.process(column.op("GLOB", is_comparison=True)(pattern), **kw)


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _AsciiLower(FunctionElement[str]):
    """Argument: the text, with A-Z lowered and every other character kept."""

    type = String()
    inherit_cache = True


@compiles(_AsciiLower)
def _compile_translate(element: _AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = element.clauses
    return f"translate({compiler.process(text, **kw)}, '{_UPPER}', '{_UPPER.lower()}')"


@compiles(_AsciiLower, "sqlite")
def _compile_lower(element: _AsciiLower, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = element.clauses  # SQLite's lower() is ASCII-only (without the ICU extension)
    return f"lower({compiler.process(text, **kw)})"


class _Bytewise(FunctionElement[str]):
    """Argument: the text column."""

    type = String()
    inherit_cache = True


@compiles(_Bytewise)
def _compile_bytewise(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column, **kw)


@compiles(_Bytewise, "postgresql")
def _compile_collate_c(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column.collate("C"), **kw)


class _Unindexed(FunctionElement[Any]):
    """Argument: the column, whose type it keeps so that values bind the same way."""

    inherit_cache = True

    def __init__(self, column: SQLCoreOperations[Any]) -> None:
        super().__init__(column)
        (coerced,) = self.clauses.clauses  # the column as a ColumnElement
        self.type = coerced.type


@compiles(_Unindexed)
def _compile_as_is(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column, **kw)


@compiles(_Unindexed, "sqlite")
def _compile_unary_plus(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return "+" + compiler.process(column, **kw)
