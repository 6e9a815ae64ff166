"""Realized performance from delayed labels, per window and version, and the estimate.

The join, drawn::

    predictions of MODEL, time in [since, until)        labels, received in
    (row = position within its request and version)      [since, until + max_delay)
                    \\                                     /
                     left join on (request_id, row), the latest label per key
                                       |
               per window (floor of the prediction's time) x version x role
               -> n predicted, n labelled, coverage, metrics with intervals,
                  and the label-free estimate (classifiers) marked estimated

A label counts for the window of its prediction, however late it came, as long as it came
before ``until + max_delay``. Labels received in the range that match no logged prediction
of the range (an unknown id, a prediction before ``since``, another model's request, or one
the log did not sample) are counted as ``unmatched``; they stay in the labels log.
Shadow versions answered the same requests, so the same labels score them too (role
``shadow``).

    report = performance_report(ctx, "churn", window=timedelta(days=1))
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

from conveyor.errors import InvalidValue
from conveyor.monitoring import labels as lab
from conveyor.monitoring import predlog_schema as log
from conveyor.monitoring.metrics import Metric, accuracy, expected_accuracy, regression, roc_auc

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.context import Context
    from conveyor.monitoring.scoring import Scores

Task = Literal["classification", "regression"]
MAX_DELAY = timedelta(days=7)
ASSUMPTION = (
    "the estimate uses the model's own class probabilities (recomputed from the logged "
    "inputs) and assumes they are calibrated; this is not checked against labelled data"
)


@dataclass(frozen=True)
class WindowPerformance:
    """One window of one version (``role`` primary or shadow): counts, realized metrics
    (empty without labels) and the estimate (None with ``estimate_note`` saying why)."""

    start: datetime
    end: datetime
    version: int
    role: str
    predicted: int
    labelled: int
    metrics: list[Metric] = field(default_factory=list)
    estimate: Metric | None = None
    estimate_note: str | None = None
    invalid_labels: int = 0

    @property
    def coverage(self) -> float:
        """The share of predicted rows that have a label."""
        return self.labelled / self.predicted if self.predicted else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "version": self.version,
            "role": self.role,
            "predicted": self.predicted,
            "labelled": self.labelled,
            "coverage": self.coverage,
            "invalid_labels": self.invalid_labels,
            "metrics": [m.to_dict() for m in self.metrics],
            "estimate": None if self.estimate is None else self.estimate.to_dict(),
            "estimate_note": self.estimate_note,
        }


@dataclass(frozen=True)
class PerformanceReport:
    """Every window with predictions in ``[since, until)``, and the labels that matched none."""

    model: str
    task: Task | None
    since: datetime
    until: datetime
    window: timedelta
    max_delay: timedelta
    windows: list[WindowPerformance]
    labels_received: int
    unmatched_labels: int
    assumption: str = ASSUMPTION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``conveyor monitor performance --json``)."""
        return {
            "model": self.model,
            "task": self.task,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "window_s": self.window.total_seconds(),
            "max_delay_s": self.max_delay.total_seconds(),
            "labels_received": self.labels_received,
            "unmatched_labels": self.unmatched_labels,
            "estimate_assumption": self.assumption,
            "windows": [w.to_dict() for w in self.windows],
        }


def performance_report(
    ctx: Context,
    model: str,
    *,
    window: timedelta = timedelta(days=1),
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    max_delay: timedelta = MAX_DELAY,
    task: Task | None = None,
) -> PerformanceReport:
    """Realized metrics of ``model`` per ``window`` and version, from the prediction log and
    the labels log of ``ctx``'s artifact store; ``since`` defaults to seven windows back.

    >>> performance_report(ctx, "churn", window=timedelta(hours=1)).to_dict()  # doctest: +SKIP
    """
    from conveyor.monitoring.predictions import read_predictions
    from conveyor.monitoring.scoring import Scorer

    if window <= timedelta(0):
        raise InvalidValue(f"the window is {window}; it must be positive", hint="e.g. 1h or 1d")
    until = until or datetime.now(UTC)
    since = since or _floor(until, window) - 6 * window
    predictions = read_predictions(ctx.artifacts_url, model, since, until, version)
    labels = lab.read_labels(ctx.artifacts_url, since, until + max_delay, model)

    scorer = Scorer(ctx, model)
    return build_report(model, predictions, labels, since, until, window, max_delay, task, scorer)


def realized(
    ctx: Context,
    model: str,
    *,
    version: int,
    since: datetime,
    until: datetime,
    max_delay: timedelta = MAX_DELAY,
    scores: Any = None,
) -> WindowPerformance | None:
    """One version's realized metrics over exactly ``[since, until)`` (not cut at window
    boundaries, as the report's windows are): what an alert rule judges. None when no
    prediction of the version was logged in the range. ``scores`` (a
    :class:`~conveyor.monitoring.scoring.Scorer`) adds ROC AUC for binary classifiers; the
    label-free estimate is not computed.
    """
    from conveyor.monitoring.predictions import read_predictions

    predictions = read_predictions(ctx.artifacts_url, model, since, until, version)
    if predictions.empty:
        return None
    labels = lab.read_labels(ctx.artifacts_url, since, until + max_delay, model)
    joined = join(predictions, labels)
    task = infer_task(joined[log.OUTPUT])
    scored = scores(version, joined) if scores is not None and task == "classification" else None
    role = "shadow" if joined[log.SHADOW_OF].notna().all() else "primary"
    found = _window(joined, since, until - since, version, role, task, scored)
    return replace(found, estimate=None, estimate_note=None)


def build_report(
    model: str,
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    since: datetime,
    until: datetime,
    window: timedelta,
    max_delay: timedelta,
    task: Task | None,
    scores: Any,
) -> PerformanceReport:
    """The report from frames already read (``scores(version, rows)`` gives probabilities)."""
    joined = join(predictions, labels)
    unmatched = _unmatched(labels, joined)
    if task is None and len(joined):
        task = infer_task(joined[log.OUTPUT])
    windows = []
    if len(joined):
        starts = joined[log.TIME].dt.floor(_freq(window))
        role = np.where(joined[log.SHADOW_OF].isna(), "primary", "shadow")
        for (start, version, kind), rows in joined.groupby(
            [starts, joined[log.VERSION], role], sort=True
        ):
            scored = scores(int(version), rows) if task == "classification" else None
            at = start.to_pydatetime()
            windows.append(_window(rows, at, window, int(version), kind, task, scored))
    return PerformanceReport(
        model, task, since, until, window, max_delay, windows, len(labels), unmatched
    )


def join(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Each logged prediction row with its label (``label`` null where none came)."""
    import pandas as pd

    if predictions.empty:
        return predictions.assign(**{lab.ROW: pd.Series(dtype="int64"), lab.LABEL: None})
    rows = predictions.copy()
    shadow = rows[log.SHADOW_OF].astype("Int64").fillna(-1)
    rows[lab.ROW] = rows.groupby([rows[log.REQUEST_ID], rows[log.VERSION], shadow]).cumcount()
    wanted = labels[[lab.REQUEST_ID, lab.ROW, lab.LABEL]].astype({lab.ROW: "int64"})
    return rows.merge(wanted, how="left", on=[lab.REQUEST_ID, lab.ROW], validate="many_to_one")


def correct(joined: pd.DataFrame) -> np.ndarray:
    """Per row of :func:`join`'s frame: 1.0 where the prediction equals its label, 0.0 where
    it does not, NaN where no usable label came (the comparison :func:`build_report`'s
    accuracy makes)."""
    marks = np.full(len(joined), np.nan)
    has = joined[lab.LABEL].notna().to_numpy()
    labelled = joined[has]
    truth, valid = _truth(labelled[lab.LABEL], joined[log.OUTPUT], "classification")
    marks[np.flatnonzero(has)[valid]] = _same(labelled[log.OUTPUT].to_numpy()[valid], truth)
    return marks


def _unmatched(labels: pd.DataFrame, joined: pd.DataFrame) -> int:
    """How many labels match no logged prediction row."""
    keys = [lab.REQUEST_ID, lab.ROW]
    if labels.empty:
        return 0
    logged = joined[keys].drop_duplicates()
    found = labels[keys].astype({lab.ROW: "int64"}).merge(logged, how="left", indicator=True)
    return int((found["_merge"] == "left_only").sum())


def infer_task(outputs: pd.Series) -> Task:
    """Classification for labels (integers, text, booleans, or whole floats with at most 20
    values), regression for other numbers."""
    values = outputs.to_numpy()
    if values.dtype.kind in "iub" or values.dtype.kind in "OUS":
        return "classification"
    whole = np.all(np.isfinite(values)) and np.all(values == np.round(values))
    return "classification" if whole and len(np.unique(values)) <= 20 else "regression"


def _window(
    rows: pd.DataFrame,
    start: datetime,
    window: timedelta,
    version: int,
    role: str,
    task: Task | None,
    scores: Scores | None,
) -> WindowPerformance:
    labelled = rows[rows[lab.LABEL].notna()]
    truth, valid = _truth(labelled[lab.LABEL], rows[log.OUTPUT], task)
    predicted = labelled[log.OUTPUT].to_numpy()[valid]
    metrics: list[Metric] = []
    if len(truth) and task == "classification":
        correct = _same(predicted, truth)
        metrics.append(accuracy(correct))
        if scores is not None and scores.positive is not None and scores.classes:
            positive = scores.positive[rows[lab.LABEL].notna().to_numpy()][valid]
            is_positive = _same(np.full(len(truth), scores.classes[1], dtype=object), truth)
            auc = roc_auc(is_positive, positive)
            metrics += [auc] if auc is not None else []
    elif len(truth) and task == "regression":
        metrics += regression(predicted.astype(float) - truth.astype(float))
    estimate, note = None, None
    if task == "classification" and scores is not None:
        if scores.confidence is None:
            note = f"no estimate: {scores.why}"
        else:
            estimate = expected_accuracy(scores.confidence)
    elif task == "regression":
        note = "no estimate: label-free estimates are for classifiers"
    return WindowPerformance(
        start.astimezone(UTC),
        (start + window).astimezone(UTC),
        version,
        role,
        len(rows),
        len(labelled),
        metrics,
        estimate,
        note,
        int(len(labelled) - np.count_nonzero(valid)),
    )


def _truth(texts: pd.Series, outputs: pd.Series, task: Task | None) -> tuple[Any, Any]:
    """The labels as values comparable with the outputs, and which rows were usable: numbers
    for numeric outputs (``"1"`` and ``1`` alike), text otherwise."""
    values = [orjson.loads(text) for text in texts]
    if outputs.to_numpy().dtype.kind in "iufb" or task == "regression":
        numbers = np.array([_number(v) for v in values], dtype=float)
        return numbers[~np.isnan(numbers)], ~np.isnan(numbers)
    text = np.array([str(v) for v in values], dtype=object)
    return text, np.ones(len(text), dtype=bool)


def _number(value: Any) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _same(predicted: Any, truth: Any) -> Any:
    if np.asarray(truth).dtype.kind == "f":
        return np.asarray(predicted, dtype=float) == truth
    return np.array([str(p) for p in predicted], dtype=object) == truth


def _freq(window: timedelta) -> str:
    return f"{int(window.total_seconds())}s"


def _floor(moment: datetime, window: timedelta) -> datetime:
    seconds = window.total_seconds()
    return datetime.fromtimestamp(moment.timestamp() // seconds * seconds, UTC)
