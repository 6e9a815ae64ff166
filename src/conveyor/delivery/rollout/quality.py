"""A model judged as a model: accuracy from delayed labels, and agreement in shadow.

Read from the artifact store, since the step began: the prediction log's rows of the two
versions, joined to the labels received since then by monitoring's own join
(:func:`conveyor.monitoring.performance.join`), counted per 10 s window of prediction time:
how many predictions of each version got a label, and how many of those were wrong; and the
candidate's shadow rows of the stable version, how many agreed. :func:`quality_results`
turns the counts into the label and agreement tests of :mod:`conveyor.delivery.analysis.labels`,
and :func:`with_quality` adds them to the outcome judge's verdict.

Labels are advisory unless they speak: a failing accuracy or agreement fails the step, but
one that is inconclusive (few labels yet) never holds back a step the other metrics pass,
and no labels at all leaves the metric out. Promotion never waits for labels that may
never come.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.delivery.analysis.judge import Verdict
from conveyor.delivery.analysis.labels import AccuracyTest, AgreementTest, LabelWindow
from conveyor.delivery.analysis.results import MetricResult
from conveyor.monitoring import labels as lab
from conveyor.monitoring import predlog_schema as log
from conveyor.monitoring.outcomes import WINDOW_S
from conveyor.monitoring.performance import correct, infer_task, join

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Quality:
    """Label and agreement counts of one step; ``labels`` one :class:`LabelWindow` per 10 s
    window of prediction time that has a label (share None: the realised share of labels)."""

    labels: list[LabelWindow] = field(default_factory=list)
    agreed: int = 0
    compared: int = 0

    def counts(self) -> dict[str, Any]:
        """The raw counts, as stored with the verdict's evidence."""
        c_n = sum(w.canary_labelled for w in self.labels)
        s_n = sum(w.stable_labelled for w in self.labels)
        c_wrong = c_n - sum(w.canary_correct for w in self.labels)
        s_wrong = s_n - sum(w.stable_correct for w in self.labels)
        return {
            "labels": {
                "canary": {"labelled": c_n, "wrong": c_wrong},
                "stable": {"labelled": s_n, "wrong": s_wrong},
            },
            "agreement": {"agreed": self.agreed, "compared": self.compared},
        }


def read_quality(
    artifacts_url: str,
    model: str,
    candidate: int,
    stable: int | None,
    since: datetime,
    until: datetime,
) -> Quality:
    """The counts of predictions made and labels received in ``[since, until)``."""
    from conveyor.monitoring.predictions import read_predictions

    rows = read_predictions(artifacts_url, model, since, until)
    if rows.empty or stable is None:
        return Quality()
    rows = rows[rows[log.VERSION].isin([candidate, stable])]
    agreed, compared = _agreement(rows, candidate, stable)
    labels = lab.read_labels(artifacts_url, since, until, model)
    if labels.empty:
        return Quality([], agreed, compared)
    joined = join(rows, labels)
    if not joined[lab.LABEL].notna().any() or infer_task(joined[log.OUTPUT]) != "classification":
        return Quality([], agreed, compared)  # accuracy is for classifiers
    return Quality(_label_windows(joined, candidate, stable), agreed, compared)


def _agreement(rows: pd.DataFrame, candidate: int, stable: int) -> tuple[int, int]:
    if log.AGREES not in rows.columns:
        return 0, 0
    shadow = rows[(rows[log.VERSION] == candidate) & (rows[log.SHADOW_OF] == stable)]
    agrees = shadow[log.AGREES].dropna().astype(bool)
    return int(agrees.sum()), int(agrees.size)


def _label_windows(joined: pd.DataFrame, candidate: int, stable: int) -> list[LabelWindow]:
    """Per 10 s window of prediction time, each version's labelled and correct rows. Stable's
    are its own answers (primary rows); the candidate's are whatever it answered (served as a
    canary, or shadow rows, which the same labels score)."""
    right = correct(joined)
    labelled = joined.assign(_correct=right)[~np.isnan(right)]
    is_canary = labelled[log.VERSION] == candidate
    is_stable = (labelled[log.VERSION] == stable) & labelled[log.SHADOW_OF].isna()
    starts = labelled[log.TIME].dt.floor(f"{WINDOW_S}s")
    windows = []
    for start in sorted(starts.unique()):
        at = starts == start
        canary, stable_rows = labelled[at & is_canary], labelled[at & is_stable]
        windows.append(
            LabelWindow(
                len(canary),
                int(canary["_correct"].sum()),
                len(stable_rows),
                int(stable_rows["_correct"].sum()),
            )
        )
    return windows


def quality_results(quality: Quality, *, shadow: bool) -> list[MetricResult]:
    """Accuracy when any label arrived; agreement for shadow deployments."""
    results: list[MetricResult] = []
    if quality.labels:
        results.append(AccuracyTest().evaluate(quality.labels))
    if shadow:
        results.append(AgreementTest().evaluate([(quality.agreed, quality.compared)]))
    return results


def with_quality(verdict: Verdict, extra: Sequence[MetricResult]) -> Verdict:
    """``verdict`` with ``extra`` in its evidence: any failing one fails it; an inconclusive
    one leaves the decision as it was (labels never hold back a step)."""
    results = (*verdict.evidence, *extra)
    failed = [r.metric for r in results if r.decision == "fail"]
    if failed:
        return Verdict("fail", results, f"failed on {', '.join(failed)}")
    return Verdict(verdict.decision, results, verdict.explanation)
