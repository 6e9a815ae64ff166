"""Class probabilities for logged predictions, recomputed from their logged inputs.

The prediction log keeps each row's inputs and the label the model answered, not the
probabilities (the gateway's hot path does not compute them for v1 and MLflow requests, and
logging them would widen every file). The label-free estimate needs them, so they are
recomputed here: the version is loaded from the registry (digest-verified, scikit-learn's
trusted types only) and asked ``predict_proba`` on the logged inputs. This is the same
model, so the answers are the gateway's. It cannot be done where inputs were masked, for a
model without probabilities, or for one that cannot be loaded safely; the reason is given
instead::

    scores = Scorer(ctx, "churn")(4, rows)
    scores.confidence  # max class probability per row, or None and scores.why
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from conveyor.errors import ConveyorError
from conveyor.monitoring.predlog_schema import INPUT_PREFIX, MASKED

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.context import Context
    from conveyor.flavors.base import Array
    from conveyor.modelpack import LoadedModel


@dataclass(frozen=True)
class Scores:
    """Per logged row: the probability of the predicted class (``confidence``) and, for a
    binary classifier, of the second class (``positive``); or ``why`` they are unknown."""

    confidence: Array | None
    positive: Array | None = None
    classes: list[object] | None = None
    why: str | None = None


class Scorer:
    """Scores logged rows with the versions of ``model`` they came from, each version
    loaded once (and its failure to load remembered)."""

    def __init__(self, ctx: Context, model: str) -> None:
        self.ctx = ctx
        self.model = model
        self._loaded: dict[int, LoadedModel | str] = {}

    def __call__(self, version: int, rows: pd.DataFrame) -> Scores:
        """The probabilities version ``version`` gives the logged ``rows``."""
        inputs = logged_inputs(rows)
        if isinstance(inputs, str):
            return Scores(None, why=inputs)
        named = f"{self.model} version {version}"
        loaded = self._load(version)
        if isinstance(loaded, str):
            return Scores(None, why=loaded)
        try:
            proba = loaded.predict_proba(inputs)
            classes = loaded.classes()
        except ConveyorError as exc:
            return Scores(None, why=f"{named} could not score the log: {exc}")
        if proba is None:
            return Scores(None, why=f"{named} gives no class probabilities")
        proba = np.asarray(proba, dtype=float)
        positive = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else None
        return Scores(proba.max(axis=1), positive, classes)

    def _load(self, version: int) -> LoadedModel | str:
        from conveyor.loading import load_resolved
        from conveyor.registry import Registry

        if version not in self._loaded:
            try:
                uri = f"models:/{self.model}/{version}"
                self._loaded[version] = load_resolved(Registry(self.ctx).resolve(uri), self.ctx)
            except ConveyorError as exc:
                self._loaded[version] = f"{self.model} version {version} was not loaded: {exc}"
        return self._loaded[version]


def logged_inputs(rows: pd.DataFrame) -> pd.DataFrame | Array | str:
    """The model inputs of logged ``rows`` (a frame by feature name, or an array for
    models fed arrays); a string saying why not when a feature was masked."""
    names = [str(c) for c in rows.columns if str(c).startswith(INPUT_PREFIX)]
    frame = rows[names].rename(columns=lambda c: str(c)[len(INPUT_PREFIX) :])
    masked = [c for c in frame.columns if (frame[c].astype(object) == MASKED).any()]
    if masked:
        return f"inputs {', '.join(masked)} are masked in the prediction log"
    if all(c.isdigit() for c in frame.columns):  # an array model: columns 0..n-1
        return frame.to_numpy()
    return frame
