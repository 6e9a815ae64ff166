"""The observer contract: one answered prediction, and who is told of it.

The gateway makes a :class:`Prediction` after a model answered and tells each of its
:class:`PredictionObserver` (the prediction log, shadow traffic, metrics, and later the
outcome windows a rollout controller reads). It lives here, not in the app, so observers and
monitoring code use it without importing the gateway::

    class Counter:
        def observe(self, prediction: Prediction) -> None:
            self.rows += len(prediction.inputs)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from conveyor.flavors.base import Array, ModelInput


@dataclass(frozen=True)
class Prediction:
    """One answered prediction, as observers see it (after the model answered)."""

    request_id: str
    model: str
    version: int
    inputs: ModelInput
    outputs: Array
    latency_s: float
    at: datetime


class PredictionObserver(Protocol):
    """Told of every prediction: the prediction log, shadow traffic, metrics.

    ``observe`` runs on the event loop after the model answered and before the response is
    sent, so it must only record or hand work to another thread, never block.
    """

    def observe(self, prediction: Prediction) -> None: ...
