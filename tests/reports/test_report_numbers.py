"""How the report writes numbers and evidence, and the curves it draws."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conveyor.reports import curves
from conveyor.reports import formatting as f
from conveyor.reports.content import gate_summary
from conveyor.reports.evidence import evidence_line


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.912345, "0.9123"),
        (0.95, "0.95"),
        (12.3456, "12.35"),
        (12345.6, "12,346"),
        (-0.00012345, "-0.0001234"),
        (0, "0"),
        (None, "—"),
        (math.nan, "—"),
        (math.inf, "—"),
        ("n/a", "—"),
        (True, "—"),
    ],
)
def test_numbers_have_four_significant_figures(value, text):
    assert f.number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0004, "<0.001"), (0.0034, "0.003"), (0.04567, "0.046"), (1.0, "1.000"), (None, "—")],
)
def test_p_values(value, text):
    assert f.p_value(value) == text


def test_units():
    assert f.signed(0.01234) == "+0.01234"
    assert f.signed(-0.5) == "-0.5"
    assert f.size(512) == "512 B"
    assert f.size(12_345) == "12.3 KB"
    assert f.size(1_234_567) == "1.23 MB"
    assert f.in_units("latency_p95_ms", 3.21) == "3.21 ms"
    assert f.in_units("model_size_mb", 1.5) == "1.5 MB"
    assert f.in_units("model_size_bytes", 2_000_000) == "2 MB"
    assert f.signed_in_units("model_size_bytes", -2_000) == "-2 KB"
    assert f.interval((-0.01, 0.02), with_sign=True) == "[-0.01, +0.02]"
    assert f.interval([1.0]) == "—"
    assert f.percent(0.95) == "95%"
    assert f.clip("a\nb  c" + "x" * 300, 10) == "a b cxxxx…"


def test_gate_summary_counts_each_status():
    class Gate:
        def __init__(self, status: str) -> None:
            self.status = status

    gates = [Gate(s) for s in ("passed", "failed", "skipped", "passed")]
    assert gate_summary(gates) == "2 of 4 gates passed, 1 failed, 1 skipped"  # type: ignore[arg-type]
    assert gate_summary([Gate("passed")]) == "1 of 1 gate passed"  # type: ignore[list-item]
    assert gate_summary([]) == "no gates were configured"


def test_evidence_known_keys_in_order_then_other_plain_values():
    line = evidence_line(
        {
            "extra": "kept",
            "nested": {"left": "out"},
            "gap": 0.04,
            "baseline": 0.93,
            "perturbed": 0.91,
            "drop": 0.02,
            "perturbation": "noise",
            "amount": 0.1,
            "columns": ["a", "b", "c", "d", "e", "f"],
        }
    )
    assert line == (
        "baseline 0.93 · perturbed 0.91 · drop 0.02 · perturbation noise · amount 0.1 · "
        "columns a, b, c, d, e and 1 more · gap 0.04 · extra kept"
    )
    assert evidence_line({}) == ""
    assert evidence_line({"mcnemar": "odd", "groups": None}) == ""


def test_roc_and_average_precision_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500).astype(bool)
    score = np.round(rng.uniform(size=500) + 0.3 * y, 2)  # ties included
    _, _, auc = curves.roc(y, score)
    _, _, ap = curves.precision_recall(y, score)
    assert auc == pytest.approx(roc_auc_score(y, score))
    assert ap == pytest.approx(average_precision_score(y, score))


def test_curves_ignore_missing_scores_and_need_both_classes():
    y = np.array([True, False, True, False])
    fpr, tpr, auc = curves.roc(y, np.array([0.9, 0.1, np.nan, 0.2]))
    assert auc == 1.0
    assert fpr[0] == 0
    assert tpr[-1] == 1
    assert curves.roc(np.array([True, True]), np.array([0.1, 0.2])) is None
    assert curves.precision_recall(np.array([False]), np.array([0.1])) is None


@pytest.mark.parametrize(
    ("values", "label", "expected"),
    [
        (["yes", "no", "yes"], "yes", [True, False, True]),
        (["yes", "no", "yes"], None, [True, False, True]),
        ([1, 0, 1], "1", [True, False, True]),
        ([1.0, 0.0, 1.0], "1", [True, False, True]),
        ([True, False, True], None, [True, False, True]),
        ([True, False, True], "True", [True, False, True]),
        ([0, 1, 2], None, None),  # three classes: no positive class to tell
        (["a", "a"], "a", None),  # one class only
    ],
)
def test_the_positive_class_is_found_whatever_the_labels_look_like(values, label, expected):
    found = curves.positives(pd.Series(values), label)
    assert (found.tolist() if found is not None else None) == expected


def test_slugs_are_safe_file_names():
    assert curves.slug("roc_auc") == "roc_auc"
    assert curves.slug("../../etc/passwd") == "etc_passwd"
    assert curves.slug("é") == "gate"
