"""Thresholds as users write them in conveyor.yaml: ``roc_auc >= 0.95``."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.evaluation.thresholds import OPERATORS, Threshold, parse_threshold

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,20}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(names, st.sampled_from(sorted(OPERATORS)), finite, st.sampled_from(["", " ", "  "]))
def test_what_is_written_is_what_is_parsed(metric: str, op: str, value: float, space: str) -> None:
    parsed = parse_threshold(f"{space}{metric}{space}{op}{space}{value!r}{space}")
    assert parsed == Threshold(metric, op, value)
    assert parse_threshold(str(parsed)).metric == metric


@given(finite, finite)
def test_holds_compares_like_the_operator_says(measured: float, bound: float) -> None:
    assert Threshold("m", ">=", bound).holds(measured) == (measured >= bound)
    assert Threshold("m", "<", bound).holds(measured) == (measured < bound)


def test_nan_never_meets_a_threshold() -> None:
    assert not Threshold("roc_auc", ">=", 0.5).holds(math.nan)
    assert not Threshold("log_loss", "<=", 0.5).holds(math.nan)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("roc_auc = 0.9", "METRIC OP NUMBER"),
        ("roc_auc >= high", "'high' is not a number"),
        (">= 0.9", "METRIC OP NUMBER"),
        ("roc_auc >= inf", "finite"),
        ("roc auc >= 0.9", "METRIC OP NUMBER"),
    ],
)
def test_a_malformed_threshold_says_what_was_expected(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_threshold(text)
