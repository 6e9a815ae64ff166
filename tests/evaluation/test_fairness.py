"""Group gaps checked against rates worked out by hand on a small table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conveyor.errors import DataError, InvalidValue
from conveyor.evaluation.fairness import GroupRate, group_gap
from conveyor.evaluation.predict import Predictions

# group, true label, predicted label
TABLE = [
    ("a", 1, 1),
    ("a", 1, 0),
    ("a", 0, 1),
    ("a", 0, 0),
    ("b", 1, 1),
    ("b", 1, 1),
    ("b", 0, 0),
    ("c", 1, 1),
    ("c", 0, 1),
    (None, 1, 0),
    (None, 0, 0),
    (None, 1, 1),
]
GROUPS = pd.Series([row[0] for row in TABLE], dtype=object)
P = Predictions(
    np.array([str(row[1]) for row in TABLE]),
    np.array([str(row[2]) for row in TABLE]),
    None,
    ["0", "1"],
    "1",
)


def test_demographic_parity_is_the_positive_prediction_rate_per_group() -> None:
    result = group_gap(P, GROUPS, "demographic_parity", min_group_size=3)
    assert result.groups == [
        GroupRate("a", 4, 2 / 4),
        GroupRate("b", 3, 2 / 3),
        GroupRate("missing", 3, 1 / 3),
    ]
    assert result.excluded == [GroupRate("c", 2, 1.0)]  # 2 rows < 3
    assert result.gap == pytest.approx(2 / 3 - 1 / 3)
    assert (result.lowest, result.highest) == ("missing", "b")


def test_equal_opportunity_is_the_true_positive_rate_over_positive_rows() -> None:
    result = group_gap(P, GROUPS, "equal_opportunity", min_group_size=2)
    assert result.groups == [
        GroupRate("a", 2, 1 / 2),
        GroupRate("b", 2, 2 / 2),
        GroupRate("missing", 2, 1 / 2),
    ]
    assert result.excluded == [GroupRate("c", 1, 1.0)]  # one positive row
    assert result.gap == pytest.approx(0.5)
    assert (result.lowest, result.highest) == ("a", "b")


def test_the_minimum_size_counts_positive_rows_for_equal_opportunity() -> None:
    result = group_gap(P, GROUPS, "equal_opportunity", min_group_size=3)
    assert result.groups == []
    assert [g.group for g in result.excluded] == ["a", "b", "c", "missing"]
    assert math.isnan(result.gap)
    assert result.lowest is None


def test_the_group_column_may_carry_any_index() -> None:
    shifted = GROUPS.set_axis(range(100, 112))
    assert group_gap(P, shifted, "demographic_parity", 3) == group_gap(
        P, GROUPS, "demographic_parity", 3
    )


def test_fairness_needs_a_binary_task() -> None:
    multiclass = Predictions(np.array(["a", "b"]), np.array(["a", "c"]), None, list("abc"), None)
    with pytest.raises(InvalidValue, match="needs a binary task"):
        group_gap(multiclass, pd.Series(["x", "y"]), "demographic_parity")


def test_wrong_arguments_are_refused() -> None:
    with pytest.raises(DataError, match="the group column has 3 rows; the predictions have 12"):
        group_gap(P, pd.Series(["a", "b", "c"]), "demographic_parity")
    with pytest.raises(InvalidValue, match="unknown fairness metric 'parity'"):
        group_gap(P, GROUPS, "parity")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="min_group_size must be at least 1"):
        group_gap(P, GROUPS, "demographic_parity", min_group_size=0)
