"""Operational gates (``gates.operational``): single-row p95 latency and model size
against their budgets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.evaluation.results import GateResult

if TYPE_CHECKING:
    from conveyor.config import OperationalGates as OperationalConfig
    from conveyor.evaluation.gates.base import Evidence


class OperationalGates:
    """Single-row p95 latency and model size against their budgets."""

    key = "operational"

    def __init__(self, config: OperationalConfig) -> None:
        self.config = config

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        """A gate per budget set, decided on the candidate's measured latency and size."""
        config, evaluation = self.config, evidence.candidate.evaluation
        results = []
        latency = evaluation.latency
        if config.latency_p95_ms is not None and latency is not None:
            passed = latency.p95_ms <= config.latency_p95_ms
            results.append(
                GateResult(
                    name=f"p95 latency <= {config.latency_p95_ms:g} ms",
                    kind="operational",
                    status="passed" if passed else "failed",
                    metric="latency_p95_ms",
                    value=latency.p95_ms,
                    operator="<=",
                    threshold=config.latency_p95_ms,
                    test=f"{latency.calls} single-row predict calls in this process, after warm-up",
                    n=latency.calls,
                    detail=f"single-row p95 {latency.p95_ms:.3g} ms (p50 {latency.p50_ms:.3g} ms), "
                    f"budget {config.latency_p95_ms:g} ms",
                    evidence={"p50_ms": latency.p50_ms, "p95_ms": latency.p95_ms},
                )
            )
        size = evaluation.model_size_bytes
        if config.model_size_mb is not None and size is not None:
            passed = size <= config.model_size_mb * 1_000_000
            results.append(
                GateResult(
                    name=f"model size <= {config.model_size_mb:g} MB",
                    kind="operational",
                    status="passed" if passed else "failed",
                    metric="model_size_mb",
                    value=size / 1_000_000,
                    operator="<=",
                    threshold=config.model_size_mb,
                    detail=f"model files take {size / 1_000_000:.3g} MB, "
                    f"budget {config.model_size_mb:g} MB",
                    evidence={"size_bytes": size},
                )
            )
        return results
