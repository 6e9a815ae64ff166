"""report.md: what a reviewer reads in the pull request."""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from conveyor.errors import InvalidValue
from conveyor.evaluation.results import CheckResult, GateResult, ModelRef, SliceMetrics
from conveyor.reports.content import build_view
from conveyor.reports.markdown import CUT_NOTE, MARKER, MAX_CHARS, md_code, render_markdown
from conveyor.reports.render import write_report


def report(case, tmp_path: Path, **options) -> str:
    check, predictions = case
    path = write_report(check, predictions, tmp_path / "out", **options)
    assert path == tmp_path / "out" / "report.md"
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def binary_md(binary, rendered) -> str:
    """The binary check's report (with a champion), written once for this module."""
    return rendered(binary).read_text(encoding="utf-8")


def gate_line(text: str, name: str) -> str:
    (line,) = [x for x in text.splitlines() if x.startswith("| ") and f"| {name} |" in x]
    return line


def test_the_marker_is_the_first_line_and_the_headline_counts_gates(binary_md):
    lines = binary_md.splitlines()
    assert lines[0] == MARKER == "<!-- conveyor-report -->"
    assert lines[1] == "## ✅ Quality check passed: 5 of 5 gates passed"
    assert "**Candidate** `churn/4` vs **champion** `churn/3` (`@champion`)" in lines[3]


def test_a_failed_gate_fails_the_headline_and_shows_its_evidence(failed, tmp_path):
    text = report(failed, tmp_path)
    assert text.splitlines()[1] == "## ❌ Quality check failed: 3 of 4 gates passed, 1 failed"
    line = gate_line(text, "accuracy vs champion")
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0] == "❌"
    assert cells[2:8] == [
        "-0.031",
        "> -0.01",
        "paired bootstrap (2000 resamples, 95% percentile interval)",
        "400",
        "[-0.031, +0.012]",
        "0.310",
    ]
    assert cells[8].startswith("accuracy: candidate 0.825 vs champion 0.8")


def test_every_gate_appears_with_its_icon_and_evidence_numbers(binary, binary_md):
    check, _ = binary
    for gate in check.gates:
        assert gate_line(binary_md, gate.name).startswith("| ✅ |")
    evidence = binary_md[binary_md.index("<details><summary>Evidence") :]
    assert "McNemar exact: b=31, c=21, n=52, statistic 1.73, p=<0.001" in evidence
    assert "candidate 0.825 · champion 0.8 · difference +0.025" in evidence
    assert "margin 0.01 · confidence 95% · bootstrap 2,000 resampled differences" in evidence
    assert (
        "groups F 0.48 (n=205), M 0.52 (n=195) · left out (too small) X (n=3) · gap 0.04"
        in evidence
    )
    assert "p50 1.234 ms · p95 2.5 ms" in evidence
    assert "size 1.23 MB" in evidence
    assert "| ✅ | p95 latency <= 10 ms | 2.5 ms | <= 10 ms |" in binary_md
    assert "| ✅ | model size <= 50 MB | 1.235 MB | <= 50 MB |" in binary_md


def test_without_a_champion_the_comparison_is_skipped_and_says_why(no_champion, tmp_path):
    text = report(no_champion, tmp_path)
    assert text.splitlines()[1] == "## ✅ Quality check passed: 4 of 5 gates passed, 1 skipped"
    assert (
        "> ⏭ **Comparison with the champion skipped:** "
        "no model version of churn has the alias champion"
    ) in text
    assert gate_line(text, "accuracy vs champion").startswith("| ⏭ |")
    assert "| metric | candidate |\n" in text  # no champion column to fill with dashes
    assert "vs **champion**" not in text


def test_the_metrics_table_has_both_models_the_difference_and_its_interval(binary_md):
    assert "| `accuracy` | 0.825 | 0.8 | +0.025 | [+0.004, +0.046] |" in binary_md
    assert "| `roc_auc` | 0.8712 | 0.8401 | +0.0311 | — |" in binary_md
    assert "| `latency_p95_ms` | 2.5 ms | 2.5 ms | 0 ms | — |" in binary_md
    assert "| `model_size_bytes` | 1.23 MB | 1.23 MB | 0 B | — |" in binary_md


def test_a_lower_is_better_interval_is_turned_back_into_candidate_minus_champion(
    regression, tmp_path
):
    text = report(regression, tmp_path)
    # the gate states rmse's improvement (champion − candidate) as [0.7, 1.25]
    assert "| `rmse` | 3.01 | 3.98 | -0.97 | [-1.25, -0.7] |" in text
    assert gate_line(text, "rmse vs champion").count("[+0.7, +1.25]") == 1


def test_validation_slices_and_lineage(binary_md):
    assert "| ❌ | `holdout` | `data/holdout.csv` | `schemas/train.yaml` | 400 | 1 |" in binary_md
    assert "- not_null on age: 3 rows failing: 3 missing" in binary_md
    assert "<details><summary>By <code>region</code> (3 values)</summary>" in binary_md
    assert "| `south` | 130 | 0.8412 | 0.8101 | +0.0311 | 0.825 |" in binary_md
    lineage = binary_md[binary_md.index("<details><summary>Lineage</summary>") :]
    assert "```text\nmodel churn/4\n└── run r4 (stage train)\n" in lineage


def test_plots_are_linked_by_file_name_or_under_image_base(binary, binary_md, rendered):
    assert "![ROC curve (400 holdout rows)](roc.png)" in binary_md
    linked = re.findall(r"\]\(([^)]+\.png)\)", binary_md)
    assert len(linked) == 7
    assert all((rendered(binary).parent / name).is_file() for name in linked)
    hosted = rendered(binary, image_base="https://ci.example.org/artifacts/42/").read_text()
    assert "![ROC curve (400 holdout rows)](https://ci.example.org/artifacts/42/roc.png)" in hosted


def test_hostile_names_cannot_inject_markup_or_mention_anyone(binary, tmp_path):
    check, predictions = binary
    hostile = "<script>alert(1)</script> @everyone ![x](http://evil.example/t.png) | *"
    gate = replace(check.gates[0], name=hostile, detail=hostile)
    slices = [SliceMetrics("<b>col</b>", "a`b|<img src=x>", 3, {"roc_auc": 0.5})]
    check = replace(
        check,
        candidate=ModelRef(uri=hostile),
        gates=[gate],
        candidate_eval=replace(check.candidate_eval, slices=slices),
        champion_note=hostile,
    )
    text = report((check, predictions), tmp_path)
    outside_code = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", text)  # drop code spans
    assert not re.search(r"(?<!\\)<(script|img|b>)", outside_code)
    assert "\\<script>alert(1)\\</script>" in outside_code  # shown, escaped
    assert "![x](http" not in outside_code
    assert "@everyone" not in outside_code
    assert "@\u2060everyone" in outside_code
    assert "<summary>By <code>&lt;b&gt;col&lt;/b&gt;</code>" in text
    assert "| `` a`b\\|<img src=x> `` | 3 | 0.5 |" in text


def test_the_comment_stays_under_githubs_limit_with_many_slices(binary, tmp_path):
    check, _predictions = binary
    many = [
        SliceMetrics(f"column_{c}", f"value_{v}", 10, {"roc_auc": 0.5 + v / 1000})
        for c in range(60)
        for v in range(80)
    ]
    check = replace(check, candidate_eval=replace(check.candidate_eval, slices=many))
    text = render_markdown(build_view(check, []))
    assert len(text) <= MAX_CHARS
    assert text.startswith(MARKER)
    assert "more values left out to keep this comment short" in text
    assert "slice column(s) left out" in text


def test_when_slices_are_not_enough_lineage_and_evidence_are_left_out_too(binary):
    check, _ = binary
    full = render_markdown(build_view(check, []))
    short = render_markdown(build_view(check, []), max_chars=len(full) - 1)
    assert len(short) < len(full)
    assert "<details><summary>Evidence" not in short
    assert "The evidence behind each gate was left out" in short
    assert "slice column(s) left out" in short
    assert "<summary>Lineage</summary>\n\n_Left out to keep this comment short" in short
    assert gate_line(short, "accuracy vs champion").startswith("| ✅ |")  # gates always stay


def test_a_report_that_cannot_fit_is_cut_with_a_note(binary):
    check, _ = binary
    text = render_markdown(build_view(check, []), max_chars=1500)
    assert len(text) <= 1500
    assert text.startswith(MARKER)
    assert text.endswith(CUT_NOTE)


def test_the_same_check_gives_the_same_markdown(binary, rendered, tmp_path):
    check, predictions = binary
    again = write_report(check, predictions, tmp_path)
    assert again.read_bytes() == rendered(binary).read_bytes()


def test_gates_with_missing_pieces_still_render(binary, tmp_path):
    check, _ = binary
    bare = GateResult(name="odd", kind="robustness", status="failed", metric="m", detail="x")
    weird = replace(bare, name="weird", evidence={"distribution": "nope", "groups": 3, "k": "v"})
    text = report((replace(check, gates=[bare, weird], passed=False), None), tmp_path)
    assert "| ❌ | odd | — | — | — | — | — | — | x |" in text
    assert "- ❌ **weird**: k v" in text
    assert "roc.png" not in text  # no predictions, no curves


def test_an_unknown_format_is_refused(binary, tmp_path):
    check, predictions = binary
    with pytest.raises(InvalidValue, match="expected 'md' or 'html'"):
        write_report(check, predictions, tmp_path, fmt="pdf")  # type: ignore[arg-type]


def test_code_spans_survive_backticks():
    assert md_code("plain") == "`plain`"
    assert md_code("a`b") == "`` a`b ``"
    assert md_code("a|b", cell=True) == "`a\\|b`"
    assert md_code("") == "—"


def test_a_check_read_back_from_json_gives_the_same_report(binary, rendered, tmp_path):
    check, predictions = binary
    stored = CheckResult.from_dict(json.loads(json.dumps(check.as_dict())))
    again = write_report(stored, predictions, tmp_path)
    assert again.read_bytes() == rendered(binary).read_bytes()


def test_files_get_the_usual_permissions_and_no_temporary_file_is_left(binary, rendered):
    folder = rendered(binary).parent
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.iterdir():
        assert not path.name.startswith(".")
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
