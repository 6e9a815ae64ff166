"""report.html: one self-contained page, nothing fetched, nothing injected."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path

import pytest

from conveyor.evaluation.results import ModelRef, SliceMetrics
from conveyor.reports.render import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def page(case, tmp_path: Path) -> str:
    check, predictions = case
    path = write_report(check, predictions, tmp_path / "out", fmt="html")
    assert path == tmp_path / "out" / "report.html"
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def binary_html(binary, rendered) -> str:
    """The binary check's page (with a champion), written once for this module."""
    path = rendered(binary, "html")
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no PNG files
    return path.read_text(encoding="utf-8")


def test_the_page_loads_nothing_from_the_network(binary_html):
    html = binary_html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html
    assert "<link" not in html
    assert "@import" not in html
    assert "default-src 'none'; img-src data:" in html  # a CSP forbids it anyway


def test_every_plot_is_inlined_as_a_png(binary_html):
    html = binary_html
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == 7  # roc, pr, confusion, calibration, slices, bootstrap, fairness
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG_SIGNATURE)


def test_the_page_has_the_same_content_as_the_comment(binary_html):
    html = binary_html
    assert "✅ Quality check passed: 5 of 5 gates passed" in html
    assert '<td class="num">[+0.004, +0.046]</td>' in html
    assert "McNemar exact: b=31, c=21, n=52, statistic 1.73, p=&lt;0.001" in html
    assert "not_null on age: 3 rows failing: 3 missing" in html
    assert "<summary>By <code>region</code> (3 values)</summary>" in html
    assert "<pre>model churn/4\n└── run r4 (stage train)" in html


def test_a_skipped_comparison_says_why(no_champion, tmp_path):
    html = page(no_champion, tmp_path)
    assert "4 of 5 gates passed, 1 skipped" in html
    assert "Comparison with the champion skipped:</strong> no model version of churn" in html
    assert '<td class="skipped" title="skipped">⏭</td>' in html


def test_hostile_names_are_escaped(binary, tmp_path):
    check, predictions = binary
    hostile = '<script>alert(1)</script><img src="http://evil.example/t.png">'
    slices = [SliceMetrics(hostile, hostile, 3, {"roc_auc": 0.5})]
    check = replace(
        check,
        candidate=ModelRef(uri=hostile),
        gates=[replace(g, name=hostile, detail=hostile) for g in check.gates],
        candidate_eval=replace(check.candidate_eval, slices=slices),
        lineage=[hostile],
        champion_note=hostile,
    )
    html = page((check, predictions), tmp_path)
    assert "<script" not in html
    assert "evil.example" in html  # shown as text...
    assert not re.search(r"<img src=\"http", html)  # ...never as an element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_same_check_gives_the_same_page(regression, tmp_path):
    check, predictions = regression
    first = write_report(check, predictions, tmp_path / "a", fmt="html").read_bytes()
    second = write_report(check, predictions, tmp_path / "b", fmt="html").read_bytes()
    assert first == second
