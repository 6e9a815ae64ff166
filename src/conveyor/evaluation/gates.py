"""Deciding the gates of ``conveyor.yaml``: each one a :class:`GateResult` with its evidence.

Six kinds, all of which must pass (a skipped gate does not block):

- validation: each data set of the ``validation:`` block satisfies its schema;
- threshold: a metric of the candidate against an absolute bound (``roc_auc >= 0.95``);
- comparison: candidate vs champion on the same holdout rows. The paired bootstrap gives a
  percentile interval of the improvement (candidate minus champion, sign flipped for metrics
  where lower is better). Non-inferiority passes when the interval's lower bound is above
  ``-margin``; superiority when it is above ``+margin``. For accuracy McNemar's test on the
  discordant rows is added, and superiority also needs its p-value below ``1 - confidence``;
- fairness: the largest gap of a rate between groups of a sensitive column;
- robustness: how much a metric drops with noise or missing values injected into features;
- operational: single-row p95 latency and model size against budgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, InvalidValue
from conveyor.evaluation.results import Evaluation, GateResult, GateStatus, ValidationSummary
from conveyor.evaluation.thresholds import parse_threshold

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.config import ChampionGates, ComparisonGate, OperationalGates, RobustnessGate
    from conveyor.config import FairnessGate as FairnessConfig
    from conveyor.evaluation.predict import Predictions
    from conveyor.modelpack import LoadedModel

ACCURACY_TYPE = frozenset({"accuracy"})  # metrics that are a mean of per-row correctness


def validation_gates(summaries: Sequence[ValidationSummary]) -> list[GateResult]:
    """One gate per declared data set: its schema holds (bad data fails the check too)."""
    results = []
    for summary in summaries:
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


def threshold_gates(thresholds: Sequence[str], evaluation: Evaluation) -> list[GateResult]:
    """One gate per ``metric OP value`` line, decided on the candidate's metrics."""
    results = []
    for index, text in enumerate(thresholds):
        threshold = parse_threshold(text)
        value = _metric(evaluation, threshold.metric, f"gates.thresholds[{index}]")
        held = threshold.holds(value)
        results.append(
            GateResult(
                name=str(threshold),
                kind="threshold",
                status="passed" if held else "failed",
                metric=threshold.metric,
                value=value,
                operator=threshold.operator,
                threshold=threshold.value,
                n=evaluation.n_rows,
                detail=f"{threshold.metric} is {value:.4g} on {evaluation.n_rows} holdout rows, "
                f"{'meeting' if held else 'missing'} the threshold {threshold}",
                evidence={"value": value},
            )
        )
    return results


def comparison_gates(
    config: ChampionGates,
    alias: str,
    candidate: Predictions,
    champion: Predictions | None,
    missing: str | None,
    *,
    blocking: bool = False,
) -> list[GateResult]:
    """Candidate vs the model behind ``alias``, one gate per ``compare`` entry.

    Without a champion each gate is skipped and says why (``missing``); with ``blocking``
    (a champion exists but cannot be compared) each fails and says why.
    """
    names = _comparison_names(config, alias)
    if champion is None:
        word: GateStatus = "failed" if blocking else "skipped"
        return [
            GateResult(
                name=name,
                kind="comparison",
                status=word,
                metric=c.metric,
                detail=f"{word}: {missing or 'there is no champion to compare with'}",
            )
            for name, c in zip(names, config.compare, strict=True)
        ]
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


def fairness_gates(
    configs: Sequence[FairnessConfig], candidate: Predictions, frame: pd.DataFrame
) -> list[GateResult]:
    """The largest gap of a rate across the groups of each sensitive column."""
    from conveyor.evaluation.fairness import group_gap

    results = []
    for index, gate in enumerate(configs):
        if gate.column not in frame.columns:
            raise ConfigError(
                f"conveyor.yaml: gates.fairness[{index}].column: the holdout has no column "
                f"{gate.column!r}",
                hint=f"its columns: {', '.join(map(str, frame.columns))}",
            )
        found = group_gap(
            candidate, frame[gate.column], gate.metric, min_group_size=gate.min_group_size
        )
        groups = [{"group": g.group, "n": g.n, "rate": g.rate} for g in found.groups]
        excluded = [{"group": g.group, "n": g.n} for g in found.excluded]
        if len(found.groups) < 2:
            results.append(_too_few_groups(gate, groups, excluded))
            continue
        passed = found.gap <= gate.max_gap
        results.append(
            GateResult(
                name=f"{gate.metric} by {gate.column}",
                kind="fairness",
                status="passed" if passed else "failed",
                metric=gate.metric,
                value=found.gap,
                operator="<=",
                threshold=gate.max_gap,
                test=f"largest gap between groups of at least {gate.min_group_size} rows",
                n=sum(g.n for g in found.groups),
                detail=f"{gate.metric} by {gate.column}: rates from {found.lowest} to "
                f"{found.highest}, gap {found.gap:.4g} "
                f"({'within' if passed else 'over'} {gate.max_gap:g}) over "
                f"{len(groups)} groups" + (f"; {len(excluded)} too small" if excluded else ""),
                evidence={"groups": groups, "excluded": excluded, "gap": found.gap},
            )
        )
    return results


def unique_names(gates: list[GateResult]) -> list[GateResult]:
    """Gates that would share a name get " #2", " #3"... so a failure names one gate."""
    from dataclasses import replace

    seen: dict[str, int] = {}
    named = []
    for gate in gates:
        seen[gate.name] = seen.get(gate.name, 0) + 1
        count = seen[gate.name]
        named.append(gate if count == 1 else replace(gate, name=f"{gate.name} #{count}"))
    return named


def _too_few_groups(
    gate: FairnessConfig, groups: list[dict[str, Any]], excluded: list[dict[str, Any]]
) -> GateResult:
    """A gap needs two groups; fewer is a failure that says how to get more."""
    sizes = ", ".join(f"{g['group']}: {g['n']}" for g in groups + excluded) or "none"
    return GateResult(
        name=f"{gate.metric} by {gate.column}",
        kind="fairness",
        status="failed",
        metric=gate.metric,
        detail=f"{gate.metric} by {gate.column}: fewer than two groups have at least "
        f"{gate.min_group_size} rows (group sizes: {sizes}), so no gap can be measured; "
        "lower min_group_size or use a larger holdout",
        evidence={"groups": groups, "excluded": excluded},
    )


def robustness_gates(
    configs: Sequence[RobustnessGate],
    model: LoadedModel,
    frame: pd.DataFrame,
    target: str,
    candidate: Predictions,
    features: Sequence[str],
    numeric_features: Sequence[str],
    evaluation: Evaluation,
) -> list[GateResult]:
    """Each metric re-measured with noise or missing values injected into the features."""
    results = []
    for index, gate in enumerate(configs):
        baseline = _metric(evaluation, gate.metric, f"gates.robustness[{index}].metric")
        columns = list(gate.columns) if gate.columns else list(numeric_features)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"conveyor.yaml: gates.robustness[{index}].columns: no such columns {missing}"
            )
        results.append(
            _robustness(gate, model, frame, target, candidate, list(features), columns, baseline)
        )
    return results


def _robustness(
    gate: RobustnessGate,
    model: LoadedModel,
    frame: pd.DataFrame,
    target: str,
    candidate: Predictions,
    features: list[str],
    columns: list[str],
    baseline: float,
) -> GateResult:
    from conveyor.errors import ConveyorError
    from conveyor.evaluation.metrics import compute_metric, metric_direction
    from conveyor.evaluation.predict import predict_frame
    from conveyor.evaluation.robustness import perturb

    name = f"{gate.metric} under {gate.perturbation} {gate.amount:g}"
    changed = perturb(frame, gate.perturbation, gate.amount, columns=columns, seed=gate.seed)
    try:
        perturbed = compute_metric(
            gate.metric,
            predict_frame(
                model,
                changed,
                target,
                task=_task_of(candidate),
                positive_label=candidate.positive_label,
                feature_columns=features,
            ),
        )
    except ConveyorError as exc:
        return GateResult(
            name=name,
            kind="robustness",
            status="failed",
            metric=gate.metric,
            detail=f"the model cannot predict with {gate.perturbation} injected: {exc.message}",
            evidence={"perturbation": gate.perturbation, "amount": gate.amount},
        )
    sign = 1.0 if metric_direction(gate.metric) == "higher" else -1.0
    drop = sign * (baseline - perturbed)
    passed = drop <= gate.max_drop
    what = (
        f"noise with {gate.amount:g} x each column's std"
        if gate.perturbation == "noise"
        else f"{gate.amount:.0%} of values missing"
    )
    return GateResult(
        name=name,
        kind="robustness",
        status="passed" if passed else "failed",
        metric=gate.metric,
        value=drop,
        operator="<=",
        threshold=gate.max_drop,
        test=f"{what} in {len(columns)} columns (seed {gate.seed})",
        n=len(frame),
        detail=f"{gate.metric} {baseline:.4g} on clean data, {perturbed:.4g} with {what}: "
        + (f"worse by {drop:.4g}" if drop > 0 else f"no worse ({-drop:.4g} better)")
        + f", {'within' if passed else 'over'} the {gate.max_drop:g} allowed",
        evidence={
            "baseline": baseline,
            "perturbed": perturbed,
            "drop": drop,
            "perturbation": gate.perturbation,
            "amount": gate.amount,
            "columns": columns,
        },
    )


def operational_gates(config: OperationalGates, evaluation: Evaluation) -> list[GateResult]:
    """Single-row p95 latency and model size against their budgets."""
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


def _metric(evaluation: Evaluation, name: str, where: str) -> float:
    if name not in evaluation.metrics:
        import difflib

        close = difflib.get_close_matches(name, list(evaluation.metrics), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"conveyor.yaml: {where}: the {evaluation.task} evaluation has no metric {name!r}",
            hint=f"{hint}metrics: {', '.join(sorted(evaluation.metrics))}",
        )
    return evaluation.metrics[name]


def _task_of(predictions: Predictions) -> str:
    if predictions.classes is None:
        return "regression"
    return "binary" if len(predictions.classes) == 2 else "multiclass"
