"""The search language of ``conveyor runs --where`` and of model-version search.

A filter is a conjunction of comparisons; an order-by names one field::

    conveyor runs --where "metrics.auc > 0.9 and params.C = '1.0' and tags.team = 'risk'" \\
                  --order-by "metrics.auc DESC" --limit 20

The grammar (keywords and prefixes are case-insensitive, keys are not)::

    filter      := [ conjunction ]                      an empty filter matches everything
    conjunction := term ( AND term )*
    term        := comparison | "(" conjunction ")"
    comparison  := field op value
                 | field IN "(" string ( "," string )* [ "," ] ")"
    field       := prefix "." key | attribute
    prefix      := metrics | params | tags | attributes  (the singular works too)
    key         := [A-Za-z0-9_-./]+ | "`" any text, with `` for a backquote "`"
    op          := "=" | "!=" | "<" | "<=" | ">" | ">="  ("==" and "<>" are accepted too)
                 | LIKE | ILIKE
    value       := number | string
    number      := [+-] digits [ "." digits ] [ e [+-] digits ]
    string      := '...' | "..."  with the escapes \\\\ \\' \\" \\n \\t \\r

    order_by    := field [ ASC | DESC ]                 ascending unless DESC, as in MLflow

What each field accepts:

=====================  ===========================  ===========================
field                  operators                    value
=====================  ===========================  ===========================
``metrics.<key>``      = != < <= > >=               a number
``params.<key>``       = != LIKE ILIKE IN           a quoted string
``tags.<key>``         = != LIKE ILIKE IN           a quoted string
time attributes        = != < <= > >=               a quoted ISO 8601 date or time
``version``            = != < <= > >=               a number
other attributes       = != LIKE ILIKE IN           a quoted string
=====================  ===========================  ===========================

A filter is bounded: at most :data:`MAX_CONDITIONS` comparisons, :data:`MAX_DEPTH` nested
parentheses and :data:`MAX_FILTER_LENGTH` characters. Each comparison costs the database a
correlated subquery, and PostgreSQL's planning time grows faster than their number (about
0.7 s at 50 on distinct keys, 9 s at 130), so a longer filter is refused, naming the limit.

Params compare as the text they were logged as, so ``params.C = 1.0`` is refused with a
hint to write ``params.C = '1.0'`` (MLflow does the same). In LIKE patterns ``%`` matches
any run of characters and ``_`` one character; there is no escape character. LIKE is
case-sensitive, ILIKE is not. A run that lacks the metric, param, tag or attribute never
matches a comparison on it, and neither does a NaN metric. Times without an offset are UTC.
Ordering puts missing values and NaN last in either direction.

The parser reads a pure-Python tuple of :class:`Condition`; :mod:`conveyor.store.search`
turns it into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import get_close_matches
from typing import Literal

from conveyor.errors import FilterSyntaxError

Kind = Literal["metric", "param", "tag", "attribute"]
Value = float | str | tuple[str, ...]
ValueType = Literal["number", "text", "time"]

RUN_ATTRIBUTES = frozenset(
    {"run_id", "status", "name", "user", "trigger", "kind"}
    | {"git_commit", "git_branch", "started_at", "ended_at"}
)
"""The bare names a run filter or order-by may use (``status = 'failed'``)."""

VERSION_ATTRIBUTES = frozenset({"name", "version", "status", "run_id", "created_at", "created_by"})
"""The bare names a model-version filter or order-by may use (``version >= 3``)."""

MAX_CONDITIONS = 50
"""The most comparisons one filter may hold."""
MAX_DEPTH = 20
"""The most parentheses one filter may nest (the parser recurses once per level)."""
MAX_FILTER_LENGTH = 5_000
"""The longest filter, in characters, that is read at all."""

ATTRIBUTE_TYPES: Mapping[str, ValueType] = {
    "started_at": "time",
    "ended_at": "time",
    "created_at": "time",
    "version": "number",
}
"""The attributes that are not text; every other attribute compares as a string."""

_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
_TEXT_OPS = ("=", "!=", "LIKE", "ILIKE", "IN")
_WORD_OPS = frozenset({"LIKE", "ILIKE", "IN"})
_OPS_BY_TYPE: Mapping[ValueType, tuple[str, ...]] = {
    "number": _NUMBER_OPS,
    "time": _NUMBER_OPS,
    "text": _TEXT_OPS,
}
_PREFIXES: Mapping[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
}
_CANONICAL_PREFIXES = ["metrics", "params", "tags", "attributes"]
_PLURALS: Mapping[Kind, str] = {"metric": "metrics", "param": "params", "tag": "tags"}
_KEYWORDS = frozenset({"and", "or", "not", "like", "ilike", "in", "asc", "desc"})
_ALL_OPS = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN"


@dataclass(frozen=True)
class Condition:
    """One comparison: ``metrics.auc > 0.9`` is ``Condition("metric", "auc", ">", 0.9)``.

    ``op`` is one of ``= != < <= > >= LIKE ILIKE IN``; ``value`` is a float for metrics and
    ``version``, a tuple of strings for ``IN``, and a string otherwise (for time attributes,
    the ISO 8601 text as written: :func:`parse_time` reads it).
    """

    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class OrderBy:
    """The field to sort by: ``metrics.auc DESC`` is ``OrderBy("metric", "auc", True)``."""

    kind: Kind
    key: str
    descending: bool = False


def parse_filter(text: str, attributes: frozenset[str]) -> tuple[Condition, ...]:
    """The conditions of ``text``, all of which a result must meet; ``()`` for a blank filter.

    ``attributes`` are the bare names allowed (:data:`RUN_ATTRIBUTES`,
    :data:`VERSION_ATTRIBUTES`). Raises :class:`FilterSyntaxError` pointing at the first
    thing that does not fit the grammar::

        >>> parse_filter("metrics.auc > 0.9 and params.C = '1.0'", RUN_ATTRIBUTES)
        (Condition(kind='metric', key='auc', op='>', value=0.9),
         Condition(kind='param', key='C', op='=', value='1.0'))
    """
    return _Parser(text, attributes, "filter").filter()


def parse_order_by(text: str, attributes: frozenset[str]) -> OrderBy:
    """The field and direction of ``text``: ``metrics.auc``, ``tags.x DESC``, ``started_at ASC``.

    Ascending unless ``DESC`` is given. Raises :class:`FilterSyntaxError`.
    """
    return _Parser(text, attributes, "order-by").order_by()


def parse_time(text: str) -> datetime:
    """The moment an ISO 8601 date or time stands for; UTC when it carries no offset.

    Raises ``ValueError`` for text that is not one.
    """
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def value_type(kind: Kind, key: str) -> ValueType:
    """What a field holds: metrics numbers, params and tags text, attributes as declared."""
    if kind == "metric":
        return "number"
    if kind == "attribute":
        return ATTRIBUTE_TYPES.get(key, "text")
    return "text"


# --- formatting: the inverse of parsing -------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-./]+")


def format_filter(conditions: Sequence[Condition]) -> str:
    """Filter text that :func:`parse_filter` reads back as ``conditions``."""
    return " and ".join(_format_condition(c) for c in conditions)


def format_order_by(order_by: OrderBy) -> str:
    """Order-by text that :func:`parse_order_by` reads back as ``order_by``."""
    return _format_field(order_by.kind, order_by.key) + (" DESC" if order_by.descending else "")


def _format_condition(condition: Condition) -> str:
    field = _format_field(condition.kind, condition.key)
    return f"{field} {condition.op} {_format_value(condition.value)}"


def _format_field(kind: Kind, key: str) -> str:
    if kind == "attribute":
        return key
    if _PLAIN_KEY.fullmatch(key):
        return f"{_PLURALS[kind]}.{key}"
    return f"{_PLURALS[kind]}.`{key.replace('`', '``')}`"


def _format_value(value: Value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_quote(item) for item in value) + ")"
    if isinstance(value, str):
        return _quote(value)
    if value in (float("inf"), float("-inf")):
        return "1e999" if value > 0 else "-1e999"
    return repr(value)


_QUOTED = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quote(text: str) -> str:
    return "'" + "".join(_QUOTED.get(char, char) for char in text) + "'"


# --- tokens -----------------------------------------------------------------------------

_TokenKind = Literal["word", "field", "number", "string", "op", "(", ")", ",", "end"]


@dataclass(frozen=True)
class _Token:
    """A piece of the text: ``text`` as written from ``start``, ``value`` as understood."""

    kind: _TokenKind
    start: int
    text: str
    value: str | float = ""  # number, unescaped string, field key, canonical operator
    prefix: str = ""  # a field's part before the dot


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_OP = re.compile(r"<=|>=|!=|<>|==|=|<|>")
_OP_ALIASES = {"<>": "!=", "==": "="}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_WORD_CHARS = re.compile(r"[A-Za-z0-9_.]+")
_PUNCTUATION: Mapping[str, _TokenKind] = {"(": "(", ")": ")", ",": ","}


class _Lexer:
    """Reads tokens one at a time, so the first error in the text is the one reported."""

    def __init__(self, text: str, what: str) -> None:
        self._text = text
        self._what = what

    def tokens(self) -> Iterator[_Token]:
        pos = 0
        while True:
            while pos < len(self._text) and self._text[pos].isspace():
                pos += 1
            if pos == len(self._text):
                yield _Token("end", pos, "")
                return
            token = self._token_at(pos)
            yield token
            pos = token.start + len(token.text)

    def _token_at(self, pos: int) -> _Token:
        char = self._text[pos]
        if char in _PUNCTUATION:
            return _Token(_PUNCTUATION[char], pos, char)
        if char in "'\"":
            return self._string(pos)
        if match := _OP.match(self._text, pos):
            return _Token("op", pos, match.group(), _OP_ALIASES.get(match.group(), match.group()))
        if match := _NUMBER.match(self._text, pos):
            return self._number(match)
        if match := _WORD.match(self._text, pos):
            return self._word(match)
        hint = "combine conditions with AND" if char in "&|" else None
        raise self._error(f"unexpected character {char!r}", pos, hint)

    def _number(self, match: re.Match[str]) -> _Token:
        if tail := _WORD_CHARS.match(self._text, match.end()):
            raise self._error(
                f"invalid number '{match.group()}{tail.group()}'",
                match.start(),
                "separate a number from the next word with a space",
            )
        return _Token("number", match.start(), match.group(), float(match.group()))

    def _word(self, match: re.Match[str]) -> _Token:
        end = match.end()
        if not self._text.startswith(".", end):
            return _Token("word", match.start(), match.group(), match.group())
        key, key_end = self._key(end + 1, match.group())
        text = self._text[match.start() : key_end]
        return _Token("field", match.start(), text, key, prefix=match.group())

    def _key(self, pos: int, prefix: str) -> tuple[str, int]:
        if self._text.startswith("`", pos):
            return self._backquoted(pos)
        if match := _PLAIN_KEY.match(self._text, pos):
            return match.group(), match.end()
        raise self._error(
            f"expected a key after '{prefix}.'",
            pos,
            f"write {prefix}.auc, or {prefix}.`a key with spaces` in backquotes",
        )

    def _backquoted(self, start: int) -> tuple[str, int]:
        chars: list[str] = []
        pos = start + 1
        while pos < len(self._text):
            if self._text[pos] != "`":
                chars.append(self._text[pos])
                pos += 1
            elif self._text.startswith("``", pos):
                chars.append("`")
                pos += 2
            elif not chars:
                raise self._error("expected a key between the backquotes, found ``", start)
            else:
                return "".join(chars), pos + 1
        raise self._error("unterminated backquoted key", start, "close the key with `")

    def _string(self, start: int) -> _Token:
        quote = self._text[start]
        chars: list[str] = []
        pos = start + 1
        while pos < len(self._text):
            char = self._text[pos]
            if char == quote:
                return _Token("string", start, self._text[start : pos + 1], "".join(chars))
            if char == "\\":
                chars.append(self._escape(pos))
                pos += 2
            else:
                chars.append(char)
                pos += 1
        raise self._error("unterminated string", start, f"close the string with {quote}")

    def _escape(self, pos: int) -> str:
        escaped = self._text[pos + 1 : pos + 2]
        if escaped not in _ESCAPES:
            raise self._error(
                f"unknown escape '\\{escaped}' in a string",
                pos,
                "the escapes are \\\\ \\' \\\" \\n \\t \\r; write \\\\ for a backslash",
            )
        return _ESCAPES[escaped]

    def _error(self, reason: str, offset: int, hint: str | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(reason, text=self._text, offset=offset, what=self._what, hint=hint)


# --- the parser -------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar in this module's docstring, one token ahead."""

    def __init__(self, text: str, attributes: frozenset[str], what: str) -> None:
        if len(text) > MAX_FILTER_LENGTH:
            raise FilterSyntaxError(
                f"the {what} is longer than {MAX_FILTER_LENGTH} characters ({len(text)})",
                text=text[:40] + "...",
                offset=0,
                what=what,
                hint="search with fewer conditions or shorter IN lists",
            )
        self._text = text
        self._attributes = attributes
        self._what = what
        self._depth = 0  # parentheses open around the current token
        self._count = 0  # comparisons read so far
        self._tokens = _Lexer(text, what).tokens()
        self._token = next(self._tokens)

    def filter(self) -> tuple[Condition, ...]:
        if self._token.kind == "end":
            return ()
        conditions = self._conjunction()
        if self._is_word("or"):
            raise self._fail(
                "AND or the end of the filter",
                "filters combine conditions with AND only; run one search per alternative",
            )
        self._expect("end", "AND or the end of the filter")
        return tuple(conditions)

    def order_by(self) -> OrderBy:
        kind, key = self._field()
        descending = self._is_word("desc")
        expected = "ASC, DESC or the end of the order-by"
        if descending or self._is_word("asc"):
            self._advance()
            expected = "the end of the order-by"
        self._expect("end", expected)
        return OrderBy(kind, key, descending)

    def _conjunction(self) -> list[Condition]:
        conditions = self._term()
        while self._is_word("and"):
            self._advance()
            conditions += self._term()
        return conditions

    def _term(self) -> list[Condition]:
        if self._token.kind != "(":
            return [self._comparison()]
        if self._depth == MAX_DEPTH:
            raise self._error(
                f"more than {MAX_DEPTH} nested parentheses", self._token.start, _LIMIT_HINT
            )
        self._depth += 1
        self._advance()
        conditions = self._conjunction()
        self._expect(")", "AND or ')'")
        self._depth -= 1
        return conditions

    def _comparison(self) -> Condition:
        if self._count == MAX_CONDITIONS:
            raise self._error(
                f"more than {MAX_CONDITIONS} conditions", self._token.start, _LIMIT_HINT
            )
        self._count += 1
        kind, key = self._field()
        held = value_type(kind, key)
        op = self._operator(kind, key, held)
        value = self._strings() if op == "IN" else self._value(kind, key, held)
        return Condition(kind, key, op, value)

    def _field(self) -> tuple[Kind, str]:
        token = self._token
        if token.kind == "field":
            kind = self._prefix(token)
            if kind != "attribute":
                self._advance()
                return kind, str(token.value)
            name = str(token.value)
        elif token.kind == "word" and token.text.lower() not in _KEYWORDS:
            name = token.text
        else:
            raise self._fail("a field such as metrics.auc, params.C, tags.team or an attribute")
        self._advance()
        return "attribute", self._attribute(name, token)

    def _prefix(self, token: _Token) -> Kind:
        kind = _PREFIXES.get(token.prefix.lower())
        if kind is None:
            close = get_close_matches(token.prefix.lower(), _CANONICAL_PREFIXES, n=1)
            hint = f"did you mean {close[0]}.{token.value}?" if close else None
            raise self._error(
                f"unknown prefix '{token.prefix}'; expected metrics., params., tags. or "
                "attributes.",
                token.start,
                hint,
            )
        return kind

    def _attribute(self, name: str, token: _Token) -> str:
        if name.lower() in self._attributes:
            return name.lower()
        known = sorted(self._attributes)
        close = get_close_matches(name.lower(), known, n=3)
        hint = (
            f"did you mean {' or '.join(close)}?"
            if close
            else f"metrics, params and tags need a prefix: metrics.{name}, params.{name}"
        )
        raise self._error(
            f"unknown attribute '{name}'; the attributes are {', '.join(known)}",
            token.start,
            hint,
        )

    def _operator(self, kind: Kind, key: str, held: ValueType) -> str:
        token = self._token
        if token.kind == "op":
            op = str(token.value)
        elif token.kind == "word" and token.text.upper() in _WORD_OPS:
            op = token.text.upper()
        else:
            raise self._fail(f"a comparison operator ({_ALL_OPS})")
        allowed = _OPS_BY_TYPE[held]
        if op not in allowed:
            raise self._error(
                f"{op} does not apply to {_describe_field(kind, key)}, which compares as "
                f"{_TYPE_WORDS[held]}; expected one of {', '.join(allowed)}",
                token.start,
            )
        self._advance()
        return op

    def _value(self, kind: Kind, key: str, held: ValueType) -> float | str:
        token = self._token
        wanted = "number" if held == "number" else "string"
        if token.kind != wanted:
            raise self._fail(_EXPECTED_VALUE[held], _value_hint(kind, key, held, token))
        if held == "time":
            self._check_time(token)
        self._advance()
        return token.value

    def _check_time(self, token: _Token) -> None:
        try:
            parse_time(str(token.value))
        except ValueError:
            raise self._fail(
                _EXPECTED_VALUE["time"], "write a date or time such as '2026-03-01T09:30:00Z'"
            ) from None

    def _strings(self) -> tuple[str, ...]:
        self._expect("(", "'(' to open the list of IN values")
        values = [self._string_in_list()]
        while self._at(","):
            self._advance()
            if self._at(")"):
                break
            values.append(self._string_in_list())
        self._expect(")", "',' or ')' to close the list of IN values")
        return tuple(values)

    def _string_in_list(self) -> str:
        token = self._token
        if token.kind != "string":
            raise self._fail("a quoted string in the IN list", "write IN ('a', 'b')")
        self._advance()
        return str(token.value)

    def _at(self, kind: _TokenKind) -> bool:
        return self._token.kind == kind

    def _is_word(self, word: str) -> bool:
        return self._token.kind == "word" and self._token.text.lower() == word

    def _advance(self) -> None:
        if self._token.kind != "end":
            self._token = next(self._tokens)

    def _expect(self, kind: _TokenKind, expected: str) -> None:
        if self._token.kind != kind:
            raise self._fail(expected)
        self._advance()

    def _fail(self, expected: str, hint: str | None = None) -> FilterSyntaxError:
        token = self._token
        found = f"end of {self._what}" if token.kind == "end" else _quoted_text(token)
        return self._error(f"expected {expected}, found {found}", token.start, hint)

    def _error(self, reason: str, offset: int, hint: str | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(reason, text=self._text, offset=offset, what=self._what, hint=hint)


_LIMIT_HINT = "a filter is a conjunction: drop the redundant parentheses and conditions"
_TYPE_WORDS: Mapping[ValueType, str] = {"number": "a number", "text": "text", "time": "a time"}
_EXPECTED_VALUE: Mapping[ValueType, str] = {
    "number": "a number",
    "text": "a quoted string",
    "time": "a quoted ISO 8601 date or time",
}


def _describe_field(kind: Kind, key: str) -> str:
    return key if kind == "attribute" else f"{_PLURALS[kind]}.{key}"


def _quoted_text(token: _Token) -> str:
    return token.text if token.kind == "string" else f"'{token.text}'"


def _value_hint(kind: Kind, key: str, held: ValueType, token: _Token) -> str | None:
    field = _format_field(kind, key)
    if held == "text" and token.kind == "number":
        what = f"{_PLURALS[kind]} compare" if kind != "attribute" else f"{field} compares"
        return f"{what} as text: quote the value, {field} = '{token.text}'"
    if held == "number" and token.kind == "string":
        return f"{field} holds numbers: write the value unquoted, {field} > 0.5"
    if held == "time" and token.kind == "number":
        return f"write {field} > '2026-03-01' (UTC unless the time carries an offset)"
    return None
