"""Comparison gates (``gates.champion``): candidate vs champion on the same holdout rows.

The paired bootstrap gives a percentile interval of the improvement (candidate minus
champion, sign flipped for metrics where lower is better). Non-inferiority passes when the
interval's lower bound is at or above ``-margin``; superiority when it is above ``+margin``.
For accuracy McNemar's test on the discordant rows is added, and superiority also needs its
p-value below ``1 - confidence``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, InvalidValue
from conveyor.evaluation.results import GateResult, GateStatus

if TYPE_CHECKING:
    from conveyor.config import ChampionGates, ComparisonGate
    from conveyor.evaluation.gates.base import Evidence
    from conveyor.evaluation.predict import Predictions

ACCURACY_TYPE = frozenset({"accuracy"})  # metrics that are a mean of per-row correctness


class ComparisonGates:
    """Candidate vs the model behind the alias, one gate per ``compare`` entry.

    Without a champion each gate is skipped and says why; when the champion exists but
    cannot be compared (``evidence.champion_blocking``) each fails and says why.
    """

    key = "champion"

    def __init__(self, config: ChampionGates) -> None:
        self.config = config

    def evaluate(self, context: object, evidence: Evidence) -> list[GateResult]:
        """A gate per compared metric, decided by the paired bootstrap's interval."""
        config, alias = self.config, evidence.champion_alias
        names = _comparison_names(config, alias)
        if evidence.champion is None:
            return _not_compared(config, names, evidence)
        candidate, champion = evidence.candidate.predictions, evidence.champion.predictions
        results = []
        for index, (name, gate) in enumerate(zip(names, config.compare, strict=True)):
            try:
                results.append(_compare(config, alias, name, gate, candidate, champion))
            except InvalidValue as exc:  # a metric of another task (f1_macro on a binary one)
                raise ConfigError(
                    f"conveyor.yaml: gates.champion.compare[{index}].metric: {exc.message}",
                    hint=exc.hint,
                ) from exc
        return results


def _not_compared(config: ChampionGates, names: list[str], evidence: Evidence) -> list[GateResult]:
    word: GateStatus = "failed" if evidence.champion_blocking else "skipped"
    missing = evidence.champion_note or "there is no champion to compare with"
    return [
        GateResult(
            name=name, kind="comparison", status=word, metric=c.metric, detail=f"{word}: {missing}"
        )
        for name, c in zip(names, config.compare, strict=True)
    ]


def _comparison_names(config: ChampionGates, alias: str) -> list[str]:
    """``roc_auc vs champion``; the mode and margin added where a metric is compared twice."""
    metrics = [c.metric for c in config.compare]
    return [
        f"{c.metric} vs {alias}"
        + (f" ({c.mode}, margin {c.margin:g})" if metrics.count(c.metric) > 1 else "")
        for c in config.compare
    ]


def _compare(
    config: ChampionGates,
    alias: str,
    name: str,
    gate: ComparisonGate,
    candidate: Predictions,
    champion: Predictions,
) -> GateResult:
    from conveyor.evaluation.metrics import metric_direction
    from conveyor.evaluation.stats import paired_bootstrap

    boot = paired_bootstrap(
        candidate,
        champion,
        gate.metric,
        resamples=config.resamples,
        confidence=config.confidence,
        seed=config.seed,
    )
    sign = 1.0 if metric_direction(gate.metric) == "higher" else -1.0
    low, high = sorted((sign * boot.low, sign * boot.high))
    superiority = gate.mode == "superiority"
    bound = gate.margin if superiority else -gate.margin
    # Superiority: better by more than the margin. Non-inferiority: not worse by more than
    # it, so an interval that touches -margin (or 0, with no margin) still passes.
    passed = low > bound if superiority else low >= bound
    operator = ">" if superiority else ">="
    evidence: dict[str, Any] = {
        "candidate": boot.candidate,
        "champion": boot.champion,
        "difference": boot.difference,
        "improvement": sign * boot.difference,
        "distribution": [float(x) for x in boot.distribution],
        "margin": gate.margin,
        "mode": gate.mode,
        "confidence": config.confidence,
        "higher_is_better": sign > 0,
    }
    p_value = None
    if gate.metric in ACCURACY_TYPE:
        test = _mcnemar(candidate, champion)
        evidence["mcnemar"] = test
        p_value = test["p_value"]
        if gate.mode == "superiority":
            passed = passed and p_value < 1 - config.confidence
    word = "improvement" if sign > 0 else "improvement (lower is better, sign flipped)"
    bound_holds = low > bound if superiority else low >= bound
    if superiority:
        relation = "above" if bound_holds else "not above"
    else:
        relation = "at or above" if bound_holds else "below"
    verdict = f"the lower bound {low:+.4g} is {relation} {bound + 0.0:+.4g}"  # no "-0"
    if gate.mode == "superiority" and p_value is not None:
        verdict += f" and McNemar's p = {p_value:.3g}"
    return GateResult(
        name=name,
        kind="comparison",
        status="passed" if passed else "failed",
        metric=gate.metric,
        value=low,
        operator=operator,
        threshold=bound,
        test=boot.method,
        n=boot.n,
        interval=(low, high),
        p_value=p_value,
        detail=f"{gate.metric}: candidate {boot.candidate:.4g} vs {alias} "
        f"{boot.champion:.4g}; {word} {sign * boot.difference:+.4g}, "
        f"{config.confidence:.0%} interval [{low:+.4g}, {high:+.4g}] on {boot.n} paired rows; "
        f"{gate.mode} with margin {gate.margin:g}: {verdict}",
        evidence=evidence,
    )


def _mcnemar(candidate: Predictions, champion: Predictions) -> dict[str, Any]:
    from conveyor.evaluation.stats import mcnemar

    result = mcnemar(candidate.y_pred == candidate.y_true, champion.y_pred == champion.y_true)
    return {
        "b": result.b,
        "c": result.c,
        "n": result.n,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "test": result.test,
    }
