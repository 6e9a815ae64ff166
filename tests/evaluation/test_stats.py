"""The paired bootstrap and McNemar's test: exactness, pairing, properties and coverage."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

from conveyor.errors import InvalidValue
from conveyor.evaluation.metrics import compute_metric
from conveyor.evaluation.predict import Predictions
from conveyor.evaluation.stats import (
    CHUNK_ELEMENTS,
    VECTORISED,
    mcnemar,
    paired_bootstrap,
    resample_rows,
    resampled,
)


def binary(y: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> Predictions:
    """Binary predictions of 0/1 labels from P(1) scores."""
    labels = np.where(y, "1", "0")
    return Predictions(labels, np.where(scores > threshold, "1", "0"), scores, ["0", "1"], "1")


def synthetic_pair(n: int, prevalence: float, seed: int) -> tuple[Predictions, Predictions]:
    """Two models scoring the same rows; scores rounded to 2 decimals so that ties occur."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    shared = rng.normal(size=n)
    candidate = 1 / (1 + np.exp(-(1.5 * (2 * y - 1) + shared + rng.normal(size=n))))
    champion = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + shared + rng.normal(size=n))))
    return binary(y, np.round(candidate, 2)), binary(y, np.round(champion, 2))


def multiclass_predictions(n: int, seed: int) -> Predictions:
    rng = np.random.default_rng(seed)
    classes = ["b", "a", "c"]  # not in sorted order, on purpose
    scores = rng.dirichlet([1.0, 1.0, 1.0], size=n)
    y = np.array(classes)[rng.integers(0, 3, n)]
    return Predictions(y, np.array(classes)[scores.argmax(axis=1)], scores, classes, None)


def regression_predictions(n: int, seed: int) -> Predictions:
    rng = np.random.default_rng(seed)
    y = 1000 + rng.normal(size=n)  # a large offset: sums of squares must not cancel badly
    return Predictions(y, y + rng.normal(scale=0.5, size=n), None, None, None)


ROWS = np.random.default_rng(11).integers(0, 60, size=(25, 60))
CASES = [
    *[(m, "minority positives") for m in ("accuracy", "precision", "recall", "f1", "roc_auc")],
    *[(m, "minority positives") for m in ("log_loss", "brier")],
    *[(m, "majority positives") for m in ("roc_auc", "precision", "recall", "f1", "log_loss")],
    *[(m, "multiclass") for m in ("accuracy", "log_loss")],
    *[(m, "regression") for m in ("mae", "mse", "rmse", "r2")],
]


def predictions_for(kind: str) -> Predictions:
    if kind == "multiclass":
        return multiclass_predictions(60, seed=2)
    if kind == "regression":
        return regression_predictions(60, seed=3)
    prevalence = 0.15 if kind == "minority positives" else 0.8
    return synthetic_pair(60, prevalence, seed=4)[0]


@pytest.mark.parametrize(("metric", "kind"), CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_vectorised_metrics_equal_scikit_learn_on_each_resample(metric: str, kind: str) -> None:
    p = predictions_for(kind)
    expected = [compute_metric(metric, p.take(rows)) for rows in ROWS]  # scikit-learn
    assert metric in VECTORISED
    np.testing.assert_allclose(resampled(metric, p, ROWS), expected, rtol=1e-10, atol=1e-12)


def test_vectorised_roc_auc_equals_roc_auc_score_directly() -> None:
    p = synthetic_pair(500, 0.3, seed=9)[0]
    rows = np.random.default_rng(1).integers(0, 500, size=(5, 500))
    assert p.scores is not None
    direct = [roc_auc_score(p.actual_positive[r], p.scores[r]) for r in rows]
    np.testing.assert_allclose(resampled("roc_auc", p, rows), direct, rtol=1e-12)


def test_resamples_are_drawn_in_bounded_chunks_from_the_seed() -> None:
    chunks = list(resample_rows(100_000, 50, seed=1))
    assert [len(c) for c in chunks] == [CHUNK_ELEMENTS // 100_000] * 2 + [10]
    rng = np.random.default_rng(1)
    first = rng.integers(0, 100_000, size=(20, 100_000), dtype=np.int32)
    np.testing.assert_array_equal(chunks[0], first)
    assert chunks[0].min() >= 0
    assert chunks[0].max() < 100_000
    assert [c.shape for c in resample_rows(10, 3, seed=0)] == [(3, 10)]


def test_a_resample_without_positives_is_nan_for_roc_auc() -> None:
    p = binary(np.array([True, False, False, False]), np.array([0.9, 0.1, 0.4, 0.3]))
    rows = np.array([[1, 2, 3, 1], [0, 1, 2, 3]])
    values = resampled("roc_auc", p, rows)
    assert math.isnan(values[0])
    assert values[1] == 1.0


def test_the_bootstrap_reports_points_interval_and_method() -> None:
    candidate, champion = synthetic_pair(400, 0.3, seed=1)
    result = paired_bootstrap(candidate, champion, "roc_auc", resamples=500, seed=2)
    assert result.candidate == compute_metric("roc_auc", candidate)
    assert result.champion == compute_metric("roc_auc", champion)
    assert result.difference == pytest.approx(result.candidate - result.champion)
    assert result.low < result.difference < result.high
    assert result.difference > 0  # the candidate separates the classes better, by design
    assert (result.n, result.resamples, result.confidence) == (400, 500, 0.95)
    assert len(result.distribution) == 500
    assert result.method == "paired bootstrap, 500 resamples of 400 rows, 95% percentile interval"
    low, high = np.quantile(result.distribution, [0.025, 0.975])
    assert (result.low, result.high) == (low, high)


def test_both_models_are_scored_on_the_same_resampled_rows() -> None:
    candidate, champion = synthetic_pair(300, 0.4, seed=5)
    result = paired_bootstrap(candidate, champion, "roc_auc", resamples=100, seed=7)
    rows = np.concatenate(list(resample_rows(300, 100, seed=7)))
    paired = resampled("roc_auc", candidate, rows) - resampled("roc_auc", champion, rows)
    np.testing.assert_allclose(result.distribution, paired, rtol=1e-12)


def test_pairing_makes_a_small_consistent_gain_visible() -> None:
    """Identical models but for 5 of 1,000 rows the candidate alone gets right."""
    rng = np.random.default_rng(0)
    y = rng.random(1000) < 0.5
    right = rng.random(1000) < 0.8
    better = right.copy()
    better[np.flatnonzero(~right)[:5]] = True
    champion = binary(y, np.where(right == y, 0.9, 0.1))
    candidate = binary(y, np.where(better == y, 0.9, 0.1))
    result = paired_bootstrap(candidate, champion, "accuracy", resamples=1000)
    assert result.difference == pytest.approx(0.005)
    assert 0 <= result.low < result.high <= 0.012  # unpaired, the interval would be ~ +-0.035


def test_a_metric_without_a_vectorised_form_is_recomputed_per_resample() -> None:
    candidate, champion = synthetic_pair(40, 0.5, seed=8)
    result = paired_bootstrap(candidate, champion, "balanced_accuracy", resamples=30, seed=3)
    rows = np.concatenate(list(resample_rows(40, 30, seed=3)))
    expected = [
        compute_metric("balanced_accuracy", candidate.take(r))
        - compute_metric("balanced_accuracy", champion.take(r))
        for r in rows
    ]
    np.testing.assert_allclose(result.distribution, expected)


def test_resamples_where_the_metric_is_undefined_are_left_out_and_said() -> None:
    y = np.array([True] + [False] * 9)
    candidate = binary(y, np.linspace(0.9, 0.0, 10))
    champion = binary(y, np.linspace(0.0, 0.9, 10))
    result = paired_bootstrap(candidate, champion, "roc_auc", resamples=200, seed=0)
    left_out = 200 - len(result.distribution)
    assert left_out > 0  # about (9/10)^10 = 35% of resamples draw no positive row
    assert result.method.endswith(f"; {left_out} resamples where roc_auc is undefined left out")
    assert np.isfinite(result.distribution).all()


def test_predictions_of_different_rows_are_refused() -> None:
    candidate, _ = synthetic_pair(50, 0.5, seed=1)
    _, other = synthetic_pair(50, 0.5, seed=2)
    with pytest.raises(InvalidValue, match="same rows in the same order"):
        paired_bootstrap(candidate, other, "accuracy")


def test_bad_arguments_are_refused() -> None:
    candidate, champion = synthetic_pair(50, 0.5, seed=1)
    with pytest.raises(InvalidValue, match="unknown metric 'auc'"):
        paired_bootstrap(candidate, champion, "auc")
    with pytest.raises(InvalidValue, match="resamples must be at least 1"):
        paired_bootstrap(candidate, champion, "accuracy", resamples=0)
    with pytest.raises(InvalidValue, match="confidence must be between 0 and 1"):
        paired_bootstrap(candidate, champion, "accuracy", confidence=95)


def test_memory_stays_bounded_on_a_large_holdout() -> None:
    """Chunks bound memory whatever the number of resamples: 100,000 rows here."""
    candidate, champion = synthetic_pair(100_000, 0.3, seed=0)
    tracemalloc.start()
    try:
        paired_bootstrap(candidate, champion, "roc_auc", resamples=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200e6


# --- properties ---------------------------------------------------------------------------

METRICS = st.sampled_from(["accuracy", "f1", "roc_auc", "log_loss", "brier", "recall"])


@st.composite
def prediction_pairs(draw: st.DrawFn) -> tuple[Predictions, Predictions]:
    n = draw(st.integers(min_value=4, max_value=40))
    y = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    unit = st.integers(min_value=0, max_value=10).map(lambda k: k / 10)  # ties are likely
    first = np.array(draw(st.lists(unit, min_size=n, max_size=n)))
    second = np.array(draw(st.lists(unit, min_size=n, max_size=n)))
    return binary(y, first), binary(y, second)


@settings(max_examples=40)
@given(pair=prediction_pairs(), metric=METRICS, seed=st.integers(0, 2**32 - 1))
def test_identical_predictions_differ_by_exactly_zero(
    pair: tuple[Predictions, Predictions], metric: str, seed: int
) -> None:
    p = pair[0]
    result = paired_bootstrap(p, p, metric, resamples=100, seed=seed)
    assert result.difference == 0 or math.isnan(result.difference)
    assert np.all(result.distribution == 0)
    if len(result.distribution):
        assert result.low == result.high == 0


@settings(max_examples=40)
@given(pair=prediction_pairs(), metric=METRICS, seed=st.integers(0, 2**32 - 1))
def test_swapping_the_models_negates_the_interval(
    pair: tuple[Predictions, Predictions], metric: str, seed: int
) -> None:
    forward = paired_bootstrap(pair[0], pair[1], metric, resamples=100, seed=seed)
    backward = paired_bootstrap(pair[1], pair[0], metric, resamples=100, seed=seed)
    np.testing.assert_array_equal(backward.distribution, -forward.distribution)
    assert backward.low == pytest.approx(-forward.high, abs=1e-12, nan_ok=True)
    assert backward.high == pytest.approx(-forward.low, abs=1e-12, nan_ok=True)


@settings(max_examples=25)
@given(pair=prediction_pairs(), metric=METRICS, seed=st.integers(0, 2**32 - 1))
def test_the_same_seed_gives_the_same_answer(
    pair: tuple[Predictions, Predictions], metric: str, seed: int
) -> None:
    first = paired_bootstrap(pair[0], pair[1], metric, resamples=50, seed=seed)
    again = paired_bootstrap(pair[0], pair[1], metric, resamples=50, seed=seed)
    np.testing.assert_array_equal(first.distribution, again.distribution)
    assert (first.low, first.high, first.method) == pytest.approx(
        (again.low, again.high, again.method), nan_ok=True
    )


# --- coverage -----------------------------------------------------------------------------

REPETITIONS = 400
# With 400 repetitions the observed coverage of a true 95% interval has a binomial standard
# error of sqrt(0.95 * 0.05 / 400) = 0.011; [0.92, 0.98] is about +-2.7 standard errors, so a
# correct interval lands outside it with probability under 1%, while one that covers 90% or
# less (or 99% or more) is caught. The seeds are fixed, so the test is deterministic.
COVERAGE = (0.92, 0.98)


def test_the_accuracy_interval_covers_the_true_difference_95_percent_of_the_time() -> None:
    """Rows are right for both models (75%), the candidate only (10%), the champion only
    (5%) or neither (10%): accuracies 0.85 and 0.80, a true difference of 0.05."""
    rng = np.random.default_rng(2024)
    kinds = np.array([[True, True], [True, False], [False, True], [False, False]])
    covered = 0
    for repetition in range(REPETITIONS):
        rows = kinds[rng.choice(4, size=250, p=[0.75, 0.10, 0.05, 0.10])]
        y = rng.random(250) < 0.5
        candidate = binary(y, np.where(rows[:, 0] == y, 0.9, 0.1))
        champion = binary(y, np.where(rows[:, 1] == y, 0.9, 0.1))
        result = paired_bootstrap(candidate, champion, "accuracy", resamples=500, seed=repetition)
        covered += result.low <= 0.05 <= result.high
    assert COVERAGE[0] <= covered / REPETITIONS <= COVERAGE[1]


@pytest.mark.slow
def test_the_roc_auc_interval_covers_the_true_difference_95_percent_of_the_time() -> None:
    """Binormal scores: positives ~ N(mu, 1), negatives ~ N(0, 1), so AUC = Phi(mu / sqrt 2);
    the models' noise is correlated (0.5), as two models of the same rows are."""
    mu_candidate, mu_champion = 1.5, 1.0
    normal = scipy_stats.norm
    truth = normal.cdf(mu_candidate / math.sqrt(2)) - normal.cdf(mu_champion / math.sqrt(2))
    rng = np.random.default_rng(7)
    covered = 0
    for repetition in range(REPETITIONS):
        y = rng.random(300) < 0.5
        noise = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=300)
        candidate = binary(y, mu_candidate * y + noise[:, 0], threshold=0.75)
        champion = binary(y, mu_champion * y + noise[:, 1], threshold=0.5)
        result = paired_bootstrap(candidate, champion, "roc_auc", resamples=500, seed=repetition)
        covered += result.low <= truth <= result.high
    assert COVERAGE[0] <= covered / REPETITIONS <= COVERAGE[1]


# --- McNemar ------------------------------------------------------------------------------


def paired_correctness(both: int, b: int, c: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness arrays with the given counts of (candidate right, champion right) kinds."""
    candidate = np.array([True] * both + [True] * b + [False] * c + [False] * neither)
    champion = np.array([True] * both + [False] * b + [True] * c + [False] * neither)
    return candidate, champion


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (1, 9), (3, 8), (12, 12), (0, 24)])
def test_few_discordant_rows_use_the_exact_binomial_test(b: int, c: int) -> None:
    result = mcnemar(*paired_correctness(20, b, c, 5))
    assert result.test == "exact binomial"
    assert (result.b, result.c, result.n) == (b, c, 25 + b + c)
    expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(13, 12), (20, 5), (121, 59), (300, 280), (0, 40)])
def test_many_discordant_rows_use_chi_square_with_continuity_correction(b: int, c: int) -> None:
    result = mcnemar(*paired_correctness(50, b, c, 10))
    assert result.test == "chi-square with continuity correction"
    assert result.df == 1
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    assert result.statistic == pytest.approx(statistic)
    assert result.p_value == pytest.approx(scipy_stats.chi2.sf(statistic, df=1), rel=1e-9)


def test_mcnemar_textbook_examples() -> None:
    """Wikipedia's example (a=101, b=121, c=59, d=33): chi-square 61^2 / 180 = 20.67 with the
    continuity correction, p = 5.45e-6; and the exact test for b=1, c=9: p = 22/1024."""
    result = mcnemar(*paired_correctness(101, 121, 59, 33))
    assert result.statistic == pytest.approx(20.672, abs=1e-3)
    assert result.p_value == pytest.approx(5.45e-6, rel=1e-3)
    assert mcnemar(*paired_correctness(0, 1, 9, 0)).p_value == 22 / 1024


def test_mcnemar_refuses_arrays_of_different_rows() -> None:
    with pytest.raises(InvalidValue, match="same rows"):
        mcnemar(np.array([True, False]), np.array([True]))
