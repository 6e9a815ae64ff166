"""A model judged as a model: accuracy from delayed labels, and agreement in shadow.

Read from the artifact store, since the step began: the prediction log's rows of the two
versions, joined to the labels received since then by monitoring's own join
(:func:`conveyor.monitoring.performance.join`), counted per 10 s window of prediction time:
how many predictions of each version got a label, and how many of those were wrong; and the
candidate's shadow rows of the stable version, how many agreed. A replay reads a whole
period once (:func:`quality_log`) and asks it, look by look, what the controller would have
read then (:meth:`QualityLog.at`: predictions since the step began, labels arrived by then).
:func:`quality_results` turns the counts into the label and agreement tests of
:mod:`conveyor.delivery.analysis.labels`, and :func:`with_quality` adds them to the outcome
judge's verdict.

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

_CORRECT = "_correct"  # 1.0 right, 0.0 wrong, NaN no usable label


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


@dataclass(frozen=True)
class QualityLog:
    """The prediction log's rows of the two versions over a period, each with whether its
    label was right (NaN: no usable label) and when the label came, and the candidate's
    shadow agreement: the :class:`Quality` of any step inside the period, as the controller
    read it at any moment of it (:meth:`at`). Built by :func:`quality_log`."""

    rows: pd.DataFrame | None  # None: nothing logged, or no stable version
    candidate: int
    stable: int | None

    def at(self, since: datetime, until: datetime) -> Quality:
        """What the controller reads at ``until`` for a step begun at ``since``: the
        predictions made in ``[since, until)`` and the labels received before ``until``."""
        if self.rows is None or self.stable is None:
            return Quality()
        rows = self.rows[(self.rows[log.TIME] >= since) & (self.rows[log.TIME] < until)]
        agreed, compared = _agreement(rows, self.candidate, self.stable)
        arrived = rows[_CORRECT].notna() & (rows[lab.RECEIVED_AT] < until)
        windows = _label_windows(rows[arrived], self.candidate, self.stable)
        return Quality(windows, agreed, compared)


def quality_log(
    artifacts_url: str,
    model: str,
    candidate: int,
    stable: int | None,
    since: datetime,
    until: datetime,
    predictions: pd.DataFrame | None = None,
) -> QualityLog:
    """The predictions made and labels received in ``[since, until)``, joined by
    monitoring's join; ``predictions``: the prediction log's rows for the period if the
    caller has read them already (replay), else they are read here."""
    import pandas as pd

    from conveyor.monitoring.predictions import read_predictions

    rows = (
        read_predictions(artifacts_url, model, since, until) if predictions is None else predictions
    )
    if rows.empty or stable is None:
        return QualityLog(None, candidate, stable)
    rows = rows[rows[log.VERSION].isin([candidate, stable])]
    labels = lab.read_labels(artifacts_url, since, until, model)
    joined = join(rows, labels)
    marks = np.full(len(joined), np.nan)
    if joined[lab.LABEL].notna().any() and infer_task(joined[log.OUTPUT]) == "classification":
        marks = correct(joined)  # accuracy is for classifiers
    arrivals = labels[[lab.REQUEST_ID, lab.ROW, lab.RECEIVED_AT]].astype({lab.ROW: "int64"})
    joined = joined.assign(**{_CORRECT: marks}).merge(
        arrivals, how="left", on=[lab.REQUEST_ID, lab.ROW], validate="many_to_one"
    )
    received = pd.to_datetime(joined[lab.RECEIVED_AT], utc=True)  # NaT where none came
    return QualityLog(joined.assign(**{lab.RECEIVED_AT: received}), candidate, stable)


def read_quality(
    artifacts_url: str,
    model: str,
    candidate: int,
    stable: int | None,
    since: datetime,
    until: datetime,
) -> Quality:
    """The counts of predictions made and labels received in ``[since, until)``."""
    log_ = quality_log(artifacts_url, model, candidate, stable, since, until)
    return log_.at(since, until)


def _agreement(rows: pd.DataFrame, candidate: int, stable: int) -> tuple[int, int]:
    if log.AGREES not in rows.columns:
        return 0, 0
    shadow = rows[(rows[log.VERSION] == candidate) & (rows[log.SHADOW_OF] == stable)]
    agrees = shadow[log.AGREES].dropna().astype(bool)
    return int(agrees.sum()), int(agrees.size)


def _label_windows(labelled: pd.DataFrame, candidate: int, stable: int) -> list[LabelWindow]:
    """Per 10 s window of prediction time, each version's labelled and correct rows. Stable's
    are its own answers (primary rows); the candidate's are whatever it answered (served as a
    canary, or shadow rows, which the same labels score)."""
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
                int(canary[_CORRECT].sum()),
                len(stable_rows),
                int(stable_rows[_CORRECT].sum()),
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
