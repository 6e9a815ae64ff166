"""A gate kind added from outside: registered by its key, decided by `conveyor check`,
recorded in check.json and rendered in the report, with no change to the check or the
reports. Also the order and the contract of the built-in kinds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor import tracking
from conveyor.config import GatesConfig, _Strict
from conveyor.context import Context
from conveyor.evaluation.check import run_check
from conveyor.evaluation.gates import GATES, Evidence, register_gate
from conveyor.evaluation.record import load_check
from conveyor.evaluation.results import GateResult
from conveyor.project import Project
from conveyor.reports.render import write_report

CONFIG = """\
stages:
  noop: {cmd: "true"}
evaluation: {data: data/test.csv, target: target, name: cancer, latency_calls: 10}
gates:
  thresholds: ["roc_auc >= 0.5"]
"""


class RowBudget(_Strict):
    """The toy kind's configuration: the most holdout rows the check may rest on."""

    max_rows: int


class ToyGatesConfig(GatesConfig):
    """`gates:` with the toy kind's key, as config.py would declare a new kind."""

    row_budget: RowBudget | None = None


class RowBudgetGate:
    """A toy kind: the holdout is no larger than a budget."""

    key = "row_budget"

    def __init__(self, config: RowBudget) -> None:
        self.config = config

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        rows, budget = len(evidence.holdout), self.config.max_rows
        return [
            GateResult(
                name=f"holdout rows <= {budget}",
                kind="row_budget",
                status="passed" if rows <= budget else "failed",
                metric="rows",
                value=float(rows),
                operator="<=",
                threshold=float(budget),
                n=rows,
                detail=f"the holdout has {rows} rows, over the budget of {budget}",
                evidence={"rows": rows},
            )
        ]


@pytest.fixture
def toy_kind() -> Iterator[None]:
    register_gate(RowBudgetGate)
    yield
    del GATES[RowBudgetGate.key]


@pytest.fixture
def project(make_project, monkeypatch: pytest.MonkeyPatch) -> Project:
    frame = load_breast_cancer(as_frame=True).frame.sample(frac=1.0, random_state=0)
    root = make_project({"conveyor.yaml": CONFIG})
    (root / "data").mkdir()
    frame.iloc[400:].to_csv(root / "data" / "test.csv", index=False)
    monkeypatch.chdir(root)
    train = frame.iloc[:400]
    model = LogisticRegression(max_iter=5000).fit(train.drop(columns="target"), train["target"])
    with cv.start_run():
        cv.log_model(model, "model")
    tracking.close_stores()
    return Project(root)


def test_a_new_kind_is_decided_recorded_and_rendered(
    toy_kind: None, project: Project, tmp_path: Path
) -> None:
    # What config.py would parse once the kind's field is declared in GatesConfig.
    gates = ToyGatesConfig(thresholds=["roc_auc >= 0.5"], row_budget=RowBudget(max_rows=100))
    project.__dict__["config"] = project.config.model_copy(update={"gates": gates})

    ctx = Context.resolve(start=project.root)
    outcome = run_check(ctx, project)

    decided = [(g.kind, g.name, g.status) for g in outcome.result.gates]
    assert decided == [
        ("threshold", "roc_auc >= 0.5", "passed"),
        ("row_budget", "holdout rows <= 100", "failed"),  # after the built-in kinds
    ]
    assert not outcome.result.passed

    stored = load_check(ctx, outcome.result.run_id)
    ctx.close()
    gate = stored.result.gates[1]
    assert (gate.kind, gate.value, gate.evidence["rows"]) == ("row_budget", 169.0, 169)
    assert not stored.result.passed

    report = write_report(stored.result, stored.predictions, tmp_path / "out").read_text()
    assert "holdout rows <= 100" in report
    assert "the holdout has 169 rows, over the budget of 100" in report
    assert "| ❌ | holdout rows <= 100 | 169 | <= 100 |" in report
    assert "- ❌ **holdout rows <= 100**: rows 169" in report  # its evidence


def test_a_kind_is_not_asked_when_its_key_is_absent(toy_kind: None, project: Project) -> None:
    ctx = Context.resolve(start=project.root)
    outcome = run_check(ctx, project)  # conveyor.yaml has no row_budget: key
    ctx.close()
    assert [g.kind for g in outcome.result.gates] == ["threshold"]
    assert outcome.result.passed


def test_built_in_kinds_are_registered_in_the_documented_order() -> None:
    assert list(GATES)[:5] == ["thresholds", "champion", "fairness", "robustness", "operational"]
    for key in GATES:
        assert key in GatesConfig.model_fields, f"gates.{key} has no configuration model"


def test_a_kind_without_a_key_or_with_a_taken_key_is_refused() -> None:
    class NoKey:
        pass

    class Thresholds:
        key = "thresholds"

    with pytest.raises(TypeError, match="no `key`"):
        register_gate(NoKey)
    with pytest.raises(ValueError, match=r"already registered for gates\.thresholds"):
        register_gate(Thresholds)
    assert GATES["thresholds"] is not Thresholds


def test_check_json_keeps_a_kind_it_does_not_know() -> None:
    # A check recorded by an installation with a kind this one lacks still reads back.
    data = GateResult("g", "drift", "passed", "psi", "fine", value=0.1).as_dict()
    assert GateResult.from_dict(json.loads(json.dumps(data))).kind == "drift"
