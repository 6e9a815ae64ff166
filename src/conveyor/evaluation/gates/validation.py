"""Validation gates: each data set of the ``validation:`` block satisfies its schema.

Not configured under ``gates:``: the summaries come with the evidence, one gate per
declared data set, and ``conveyor check`` decides them first, whatever ``gates:`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.evaluation.results import GateResult

if TYPE_CHECKING:
    from conveyor.evaluation.gates.base import Evidence


class ValidationGates:
    """One gate per declared data set: its schema holds (bad data fails the check too)."""

    key = "validation"

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        """A gate per validation summary, failed where a check of its schema failed."""
        results = []
        for summary in evidence.validation:
            failing = ", ".join(
                f"{f.get('column') or 'table'}: {f.get('check')} ({f.get('failing_rows', 0)} rows)"
                for f in summary.failures[:5]
            )
            results.append(
                GateResult(
                    name=f"{summary.name} data is valid",
                    kind="validation",
                    status="passed" if summary.passed else "failed",
                    metric="failed_checks",
                    value=float(summary.failed_checks),
                    operator="<=",
                    threshold=0.0,
                    n=summary.rows,
                    detail=f"{summary.data}: {summary.rows} rows "
                    + ("satisfy" if summary.passed else "break")
                    + f" {summary.schema or 'the schema'}"
                    + (f"; {summary.failed_checks} check(s) failed: {failing}" if failing else ""),
                    evidence={"failures": summary.failures},
                )
            )
        return results
