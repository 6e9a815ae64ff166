"""perturb: the noise and missing values it injects, and what it leaves alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.errors import DataError, InvalidValue
from conveyor.evaluation.robustness import perturb


def features(rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "income": rng.normal(50_000, 8_000, rows),
            "age": rng.integers(18, 90, rows),
            "city": rng.choice(["paris", "lyon"], rows),
            "member": rng.random(rows) < 0.5,
            "constant": np.full(rows, 3.0),
        }
    )


def test_noise_has_the_asked_share_of_each_columns_spread() -> None:
    frame = features()
    noisy = perturb(frame, "noise", 0.2, seed=1)
    for column in ("income", "age"):
        added = noisy[column] - frame[column]
        assert added.std() == pytest.approx(0.2 * frame[column].std(), rel=0.06)
        assert abs(added.mean()) < 0.01 * frame[column].std()
    assert noisy["age"].dtype == np.float64
    pd.testing.assert_series_equal(noisy["constant"], frame["constant"])  # std 0: no noise
    pd.testing.assert_series_equal(noisy["city"], frame["city"])  # text is left alone
    pd.testing.assert_series_equal(noisy["member"], frame["member"])  # booleans too


def test_missing_blanks_the_asked_share_of_each_chosen_column() -> None:
    frame = features()
    holes = perturb(frame, "missing", 0.25, columns=["income", "city", "member"], seed=2)
    for column in ("income", "city", "member"):
        assert holes[column].isna().sum() == 500
        kept = holes[column].notna()
        assert (holes.loc[kept, column] == frame.loc[kept, column]).all()
    assert holes["age"].notna().all()
    assert not holes["income"].isna().equals(holes["city"].isna())  # each column its own rows


def test_the_input_is_never_modified_and_the_seed_repeats() -> None:
    frame = features()
    before = frame.copy()
    first = perturb(frame, "noise", 0.5, seed=3)
    perturb(frame, "missing", 0.5, seed=3)
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_frame_equal(first, perturb(frame, "noise", 0.5, seed=3))
    assert not first.equals(perturb(frame, "noise", 0.5, seed=4))


def test_amount_zero_changes_nothing() -> None:
    frame = features(50)
    pd.testing.assert_frame_equal(
        perturb(frame, "missing", 0.0), frame, check_dtype=False, check_exact=True
    )
    noisy = perturb(frame, "noise", 0.0)
    assert (noisy["income"] == frame["income"]).all()


def test_bad_requests_are_refused() -> None:
    frame = features(10)
    with pytest.raises(InvalidValue, match="noise needs numeric columns; \\['city'\\]"):
        perturb(frame, "noise", 0.1, columns=["city"])
    with pytest.raises(DataError, match="cannot perturb column\\(s\\) \\['height'\\]"):
        perturb(frame, "missing", 0.1, columns=["height"])
    with pytest.raises(InvalidValue, match="the missing amount must be between 0 and 1"):
        perturb(frame, "missing", 1.5)
    with pytest.raises(InvalidValue, match="the noise amount must be at least 0"):
        perturb(frame, "noise", -0.1)
    with pytest.raises(InvalidValue, match="unknown perturbation 'shuffle'"):
        perturb(frame, "shuffle", 0.1)  # type: ignore[arg-type]
