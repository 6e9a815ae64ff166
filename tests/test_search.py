"""The search language: parsing, formatting, and errors that point at the spot."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conveyor.errors import ConfigError, FilterSyntaxError
from conveyor.search import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    RUN_ATTRIBUTES,
    VERSION_ATTRIBUTES,
    Condition,
    OrderBy,
    format_filter,
    format_order_by,
    parse_filter,
    parse_order_by,
    parse_time,
)

RUNS = RUN_ATTRIBUTES


def one(text: str, attributes: frozenset[str] = RUNS) -> Condition:
    (condition,) = parse_filter(text, attributes)
    return condition


def error(text: str, attributes: frozenset[str] = RUNS) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text, attributes)
    return caught.value


# --- what parses ------------------------------------------------------------------------


def test_the_issue_example_parses_to_three_conditions() -> None:
    text = "metrics.auc > 0.9 and params.C = '1.0' and tags.team = 'risk'"
    assert parse_filter(text, RUNS) == (
        Condition("metric", "auc", ">", 0.9),
        Condition("param", "C", "=", "1.0"),
        Condition("tag", "team", "=", "risk"),
    )


def test_a_blank_filter_has_no_conditions() -> None:
    assert parse_filter("", RUNS) == ()
    assert parse_filter("  \n\t ", RUNS) == ()


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_numeric_operator_on_a_metric(op: str) -> None:
    assert one(f"metrics.loss {op} 1") == Condition("metric", "loss", op, 1.0)
    assert one(f"metrics.loss{op}1") == Condition("metric", "loss", op, 1.0)


@pytest.mark.parametrize(("written", "op"), [("==", "="), ("<>", "!=")])
def test_operator_aliases_are_read_as_the_canonical_operator(written: str, op: str) -> None:
    assert one(f"metrics.x {written} 2") == Condition("metric", "x", op, 2.0)


@pytest.mark.parametrize("op", ["=", "!=", "LIKE", "ILIKE"])
@pytest.mark.parametrize("prefix", ["params", "tags"])
def test_every_text_operator_on_params_and_tags(op: str, prefix: str) -> None:
    kind = {"params": "param", "tags": "tag"}[prefix]
    assert one(f"{prefix}.k {op} 'v%'") == Condition(kind, "k", op, "v%")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("-1", -1.0),
        ("+2.5", 2.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("-1.5E-3", -0.0015),
        ("1e999", math.inf),
    ],
)
def test_numbers(text: str, value: float) -> None:
    assert one(f"metrics.x > {text}").value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'tab\\there\\nnew\\rline'", "tab\there\nnew\rline"),
        ("'\"'", '"'),
        ("''", ""),
        ("'ünïcödé ✓'", "ünïcödé ✓"),
    ],
)
def test_strings_and_their_escapes(text: str, value: str) -> None:
    assert one(f"tags.t = {text}").value == value


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.val_loss", "val_loss"),
        ("metrics.train/loss", "train/loss"),
        ("metrics.a.b-c", "a.b-c"),
        ("metrics.0", "0"),
        ("metrics.`val loss`", "val loss"),
        ("metrics.`a``b`", "a`b"),
        ("metrics.`x > 1 and`", "x > 1 and"),
    ],
)
def test_keys_plain_and_backquoted(text: str, key: str) -> None:
    assert one(f"{text} < 3") == Condition("metric", key, "<", 3.0)


@pytest.mark.parametrize("prefix", ["metric", "METRICS", "Metrics"])
def test_prefixes_are_case_insensitive_and_may_be_singular(prefix: str) -> None:
    assert one(f"{prefix}.AUC > 0") == Condition("metric", "AUC", ">", 0.0)


def test_keywords_are_case_insensitive() -> None:
    conditions = parse_filter("tags.a like 'x%' AND tags.b Ilike 'y' aNd tags.c in ('z')", RUNS)
    assert [c.op for c in conditions] == ["LIKE", "ILIKE", "IN"]


def test_in_takes_a_list_of_strings_with_an_optional_trailing_comma() -> None:
    assert one("tags.team IN ('risk', \"ops\",)") == Condition("tag", "team", "IN", ("risk", "ops"))
    assert one("status in('finished')") == Condition("attribute", "status", "IN", ("finished",))


def test_attributes_bare_or_prefixed_and_case_insensitive() -> None:
    expected = Condition("attribute", "status", "=", "failed")
    assert one("status = 'failed'") == expected
    assert one("attributes.status = 'failed'") == expected
    assert one("STATUS = 'failed'") == expected


def test_time_attributes_take_iso_strings_and_version_a_number() -> None:
    assert one("started_at >= '2026-03-01'") == Condition(
        "attribute", "started_at", ">=", "2026-03-01"
    )
    assert one("version > 2", VERSION_ATTRIBUTES) == Condition("attribute", "version", ">", 2.0)


def test_parentheses_group_and_flatten() -> None:
    text = "(metrics.a > 1 and (tags.b = 'x')) and ((status = 'finished'))"
    assert parse_filter(text, RUNS) == (
        Condition("metric", "a", ">", 1.0),
        Condition("tag", "b", "=", "x"),
        Condition("attribute", "status", "=", "finished"),
    )


def test_parse_time_reads_iso_8601_as_utc_unless_an_offset_is_given() -> None:
    assert parse_time("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_time("2026-03-01T09:30:00Z") == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert parse_time("2026-03-01T09:30:00+02:00") == datetime(
        2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))
    )


# --- order-by ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.auc", OrderBy("metric", "auc", descending=False)),
        ("metrics.auc DESC", OrderBy("metric", "auc", descending=True)),
        ("metrics.auc asc", OrderBy("metric", "auc", descending=False)),
        ("started_at ASC", OrderBy("attribute", "started_at", descending=False)),
        ("params.`lr rate` desc", OrderBy("param", "lr rate", descending=True)),
        ("  tags.team  ", OrderBy("tag", "team", descending=False)),
    ],
)
def test_order_by(text: str, expected: OrderBy) -> None:
    assert parse_order_by(text, RUNS) == expected
    assert parse_order_by(format_order_by(expected), RUNS) == expected


@pytest.mark.parametrize(
    ("text", "offset", "reason"),
    [
        ("", 0, "expected a field such as metrics.auc, params.C, tags.team or an attribute, "
         "found end of order-by"),
        ("metrics.auc down", 12, "expected ASC, DESC or the end of the order-by, found 'down'"),
        ("metrics.auc desc, metrics.x", 16, "expected the end of the order-by, found ','"),
    ],
)  # fmt: skip
def test_order_by_errors(text: str, offset: int, reason: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_order_by(text, RUNS)
    assert caught.value.offset == offset
    assert str(caught.value).startswith(f"invalid order-by at position {offset + 1}: {reason}")


# --- errors -----------------------------------------------------------------------------


def test_an_error_shows_the_filter_with_a_caret_under_the_spot() -> None:
    err = error("metrics.auc > 0.9 and params.C")
    assert str(err) == (
        "invalid filter at position 31: expected a comparison operator "
        "(=, !=, <, <=, >, >=, LIKE, ILIKE, IN), found end of filter\n"
        "  metrics.auc > 0.9 and params.C\n"
        "                                ^"
    )
    assert isinstance(err, ConfigError)
    assert (err.offset, err.text) == (30, "metrics.auc > 0.9 and params.C")


def test_the_caret_lines_up_when_the_filter_spans_lines() -> None:
    err = error("metrics.a > 1\nand\tmetrics.b ? 2")
    assert err.offset == 28
    lines = str(err).splitlines()
    assert lines[1] == "  metrics.a > 1 and metrics.b ? 2"
    assert lines[2].index("^") == lines[1].index("?")


@pytest.mark.parametrize(
    ("text", "offset", "reason"),
    [
        ("metrics.auc auc", 12, "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, "
         "ILIKE, IN), found 'auc'"),
        ("metrics.auc >", 13, "expected a number, found end of filter"),
        ("metrics.auc > 'high'", 14, "expected a number, found 'high'"),
        ("metrics.auc LIKE 'x'", 12, "LIKE does not apply to metrics.auc, which compares as a "
         "number; expected one of =, !=, <, <=, >, >="),
        ("metrics.auc IN ('1')", 12, "IN does not apply to metrics.auc"),
        ("params.C > '1'", 9, "> does not apply to params.C, which compares as text; expected "
         "one of =, !=, LIKE, ILIKE, IN"),
        ("params.C = 1.0", 11, "expected a quoted string, found '1.0'"),
        ("tags.t = x", 9, "expected a quoted string, found 'x'"),
        ("started_at > 5", 13, "expected a quoted ISO 8601 date or time, found '5'"),
        ("started_at > 'yesterday'", 13, "expected a quoted ISO 8601 date or time, found "
         "'yesterday'"),
        ("started_at LIKE '2026%'", 11, "LIKE does not apply to started_at"),
        ("metrics.a > 1 metrics.b > 2", 14, "expected AND or the end of the filter, found "
         "'metrics.b'"),
        ("metrics.a > 1 and", 17, "expected a field such as metrics.auc, params.C, tags.team "
         "or an attribute, found end of filter"),
        ("and metrics.a > 1", 0, "expected a field"),
        ("(metrics.a > 1", 14, "expected AND or ')', found end of filter"),
        ("metrics.a > 1)", 13, "expected AND or the end of the filter, found ')'"),
        ("()", 1, "expected a field"),
        ("tags.t IN 'a'", 10, "expected '(' to open the list of IN values, found 'a'"),
        ("tags.t IN ()", 11, "expected a quoted string in the IN list, found ')'"),
        ("tags.t IN ('a' 'b')", 15, "expected ',' or ')' to close the list of IN values"),
        ("tags.t IN ('a', 1)", 16, "expected a quoted string in the IN list, found '1'"),
        ("tags.t = 'open", 9, "unterminated string"),
        ('tags.t = "a\\q"', 11, "unknown escape '\\q' in a string"),
        ("metrics.`open > 1", 8, "unterminated backquoted key"),
        ("metrics.`` > 1", 8, "expected a key between the backquotes, found ``"),
        ("metrics. > 1", 8, "expected a key after 'metrics.'"),
        ("metrics.x > 0.9and", 12, "invalid number '0.9and'"),
        ("metrics.x > 1.2.3", 12, "invalid number '1.2.3'"),
        ("metrics.x > 1 && metrics.y < 2", 14, "unexpected character '&'"),
        ("metrics.x ! 1", 10, "unexpected character '!'"),
        ("metrics.x > - 1", 12, "unexpected character '-'"),
        ("mettrics.x > 1", 0, "unknown prefix 'mettrics'; expected metrics., params., tags. or "
         "attributes."),
    ],
)  # fmt: skip
def test_errors_say_where_what_was_expected_and_what_came(
    text: str, offset: int, reason: str
) -> None:
    err = error(text)
    assert err.offset == offset
    assert err.reason.startswith(reason)
    caret_line = str(err).splitlines()[2]
    assert caret_line == "  " + " " * offset + "^"


def test_or_is_refused_with_a_hint_to_use_and() -> None:
    err = error("metrics.a > 1 OR metrics.b > 2")
    assert err.offset == 14
    assert err.hint is not None
    assert "AND only" in err.hint


def test_an_unquoted_param_value_gets_a_hint_to_quote_it() -> None:
    err = error("params.C = 1.0")
    assert err.hint == "params compare as text: quote the value, params.C = '1.0'"


def test_a_quoted_metric_value_gets_a_hint_to_unquote_it() -> None:
    err = error("metrics.auc > '0.9'")
    assert err.hint is not None
    assert "unquoted" in err.hint


def test_an_unknown_attribute_suggests_close_names() -> None:
    err = error("metrics.a > 1 and stauts = 'failed'")
    assert err.offset == 18
    assert err.reason.startswith("unknown attribute 'stauts'; the attributes are ended_at, ")
    assert err.hint == "did you mean status?"


def test_an_unknown_attribute_that_looks_like_a_key_suggests_a_prefix() -> None:
    err = error("auc > 0.9")
    assert err.hint == "metrics, params and tags need a prefix: metrics.auc, params.auc"


def test_attributes_depend_on_what_is_searched() -> None:
    assert one("version = 3", VERSION_ATTRIBUTES).key == "version"
    err = error("version = 3", RUNS)
    assert err.reason.startswith("unknown attribute 'version'")
    err = error("trigger = 'cli'", VERSION_ATTRIBUTES)
    assert err.reason.startswith("unknown attribute 'trigger'")


def test_an_unknown_prefix_suggests_the_closest() -> None:
    assert error("metirc.auc > 1").hint == "did you mean metrics.auc?"
    assert error("tgas.team = 'x'").hint == "did you mean tags.team?"


def test_the_first_error_in_the_text_is_the_one_reported() -> None:
    # the parse error comes before the lexical one further on
    err = error("metrics.a metrics.b > 'unterminated")
    assert err.offset == 10


# --- properties: formatting round-trips, garbage only ever raises FilterSyntaxError ----

keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
plain_keys = st.from_regex(r"[A-Za-z0-9_\-./]{1,10}", fullmatch=True)
any_keys = plain_keys | keys
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
numbers = st.floats(allow_nan=False)

metric_conditions = st.builds(
    Condition, st.just("metric"), any_keys, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
    numbers,
)  # fmt: skip
text_values = st.one_of(
    st.tuples(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]), texts),
    st.tuples(st.just("IN"), st.lists(texts, min_size=1, max_size=4).map(tuple)),
)
text_conditions = st.builds(
    lambda kind, key, op_value: Condition(kind, key, *op_value),
    st.sampled_from(["param", "tag"]),
    any_keys,
    text_values,
)
text_attribute_conditions = st.builds(
    lambda key, op_value: Condition("attribute", key, *op_value),
    st.sampled_from(sorted(RUNS - {"started_at", "ended_at"})),
    text_values,
)
time_conditions = st.builds(
    lambda key, op, moment: Condition("attribute", key, op, moment.isoformat()),
    st.sampled_from(["started_at", "ended_at"]),
    st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
    st.datetimes(timezones=st.none() | st.just(UTC)),
)
conditions = st.lists(
    metric_conditions | text_conditions | text_attribute_conditions | time_conditions,
    max_size=5,
).map(tuple)


@given(conditions)
@example((Condition("metric", "`", "=", -0.0), Condition("tag", "a`b ", "IN", ("'", '"\\'))))
def test_a_formatted_filter_parses_back_to_its_conditions(built: tuple[Condition, ...]) -> None:
    assert parse_filter(format_filter(built), RUNS) == built


@given(
    st.builds(OrderBy, st.sampled_from(["metric", "param", "tag"]), any_keys, st.booleans())
    | st.builds(OrderBy, st.just("attribute"), st.sampled_from(sorted(RUNS)), st.booleans())
)
def test_a_formatted_order_by_parses_back(built: OrderBy) -> None:
    assert parse_order_by(format_order_by(built), RUNS) == built


fragments = st.sampled_from(
    [
        "metrics.a", "params.b", "tags.c", "status", "started_at", "version", "metrics.`x y`",
        "metrics.`", "and", "AND", "or", "like", "ILIKE", "in", "IN", "desc", "(", ")", ",",
        "=", "!=", "<", "<=", ">", ">=", "<>", "==", "!", "'x'", '"y"', "'", '"', "\\", "`",
        "1", "-2.5", "1e3", "1e", ".", "..", "'2026-03-01'", "'bad date'", "%", " ", "\n",
    ]
)  # fmt: skip


@given(st.lists(fragments, max_size=12), st.sampled_from(["", " "]))
def test_token_soup_parses_or_raises_filter_syntax_error(parts: list[str], glue: str) -> None:
    text = glue.join(parts)
    for parse in (parse_filter, parse_order_by):
        assert error_offset(parse, text) in (None, *range(len(text) + 1))


@given(st.text(max_size=40))
def test_random_text_parses_or_raises_filter_syntax_error(text: str) -> None:
    for parse in (parse_filter, parse_order_by):
        assert error_offset(parse, text) in (None, *range(len(text) + 1))


def error_offset(parse: Callable[[str, frozenset[str]], object], text: str) -> int | None:
    """Where ``parse`` says ``text`` goes wrong, or None; any other exception propagates."""
    try:
        parse(text, RUNS)
    except FilterSyntaxError as err:
        return err.offset
    return None


# --- limits: a filter is bounded in depth, conditions and length ----------------------


def test_deeply_nested_parentheses_are_a_clear_error_not_a_recursion_error() -> None:
    text = "(" * 500 + "metrics.a > 1" + ")" * 500

    err = error(text)

    assert f"more than {MAX_DEPTH} nested parentheses" in err.reason
    assert err.offset == MAX_DEPTH  # the first parenthesis past the limit


def test_parentheses_up_to_the_limit_parse() -> None:
    text = "(" * MAX_DEPTH + "metrics.a > 1" + ")" * MAX_DEPTH

    assert parse_filter(text, RUNS) == (Condition("metric", "a", ">", 1.0),)


def test_too_many_conditions_are_a_clear_error_naming_the_limit() -> None:
    text = " and ".join(f"metrics.m{i} > 0" for i in range(MAX_CONDITIONS + 10))

    err = error(text)

    assert f"more than {MAX_CONDITIONS} conditions" in err.reason
    assert text[err.offset :].startswith(f"metrics.m{MAX_CONDITIONS} > 0")


def test_a_filter_longer_than_the_limit_is_refused_before_it_is_read() -> None:
    text = "params.p IN (" + ", ".join(["'x'"] * 2000) + ")"

    err = error(text)

    assert f"longer than {MAX_FILTER_LENGTH} characters" in err.reason


@given(st.integers(0, 3 * MAX_DEPTH), st.integers(1, 3 * MAX_CONDITIONS))
def test_nesting_and_conjunctions_parse_or_name_a_limit(depth: int, count: int) -> None:
    inner = " and ".join(["metrics.a > 1"] * count)
    text = "(" * depth + inner + ")" * depth
    if depth <= MAX_DEPTH and count <= MAX_CONDITIONS and len(text) <= MAX_FILTER_LENGTH:
        assert len(parse_filter(text, RUNS)) == count
    else:
        with pytest.raises(FilterSyntaxError, match=r"more than|longer than"):
            parse_filter(text, RUNS)
