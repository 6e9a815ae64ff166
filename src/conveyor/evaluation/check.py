"""``conveyor check``: evaluate the candidate and the champion on one holdout, decide the gates.

::

    holdout ──> candidate ──> evaluation ─┬─> gates ──> CheckResult ──> run (check.json,
            └─> champion  ──> evaluation ─┤                               predictions.parquet)
    validation: entries ──> summaries ────┘                          └─> model version tags
                                                                     └─> alias (--promote)

The candidate is ``--model``, else ``evaluation.model``, else the model the pipeline in
``conveyor.lock`` logged (``candidate.py``); the champion is ``models:/NAME@ALIAS``.

The result is stored on a run (the stage's run inside ``conveyor run``, else a run of kind
``check``) as two artifacts that ``conveyor report`` renders from, and as tags on the model
version (``check`` = passed/failed, ``check.run`` = the run holding the evidence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, ConveyorError, DataError, ModelError, NotFoundError
from conveyor.evaluation.gates import Evidence, Scored, decide_gates
from conveyor.evaluation.record import record
from conveyor.evaluation.results import CheckOutcome, CheckResult, ModelRef, ValidationSummary

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.config import EvaluationConfig, GatesConfig
    from conveyor.context import Context
    from conveyor.modelpack import LoadedModel
    from conveyor.project import Project
    from conveyor.registry import Registry, Resolved

Say = Callable[[str], None]


def evaluation_config(project: Project) -> EvaluationConfig:
    """The ``evaluation:`` block, or an error showing how to write one."""
    config = project.config.evaluation
    if config is None:
        raise ConfigError(
            f"{project.config_path.name} has no evaluation: block, so there is nothing to check",
            hint="add one, e.g.\n    evaluation:\n      data: data/prepared/test.csv\n"
            "      target: target\n      name: my-model",
        )
    return config


def evaluate_uri(
    ctx: Context,
    project: Project,
    config: EvaluationConfig,
    uri: str | None,
    say: Say = lambda _: None,
) -> Scored:
    """Score a model on ``config``'s holdout (``conveyor evaluate``); the default candidate
    when ``uri`` is None."""
    from conveyor.config import GatesConfig
    from conveyor.evaluation.candidate import default_candidate
    from conveyor.evaluation.data import read_frame
    from conveyor.registry import Registry

    frame = read_frame(project.root / config.data, config.data)
    say(f"{config.data}: {len(frame)} rows")
    registry = Registry(ctx)
    uri = uri or config.model or default_candidate(project, registry.store)
    gates = project.config.gates or GatesConfig()
    return _score(registry, uri, frame, config, gates, say)


@dataclass(frozen=True)
class Champion:
    """The champion scored on the holdout, or why there is none (``blocking``: and why that
    fails the comparison rather than skipping it)."""

    scored: Scored | None
    note: str | None = None
    blocking: bool = False


def run_check(
    ctx: Context,
    project: Project,
    *,
    candidate_uri: str | None = None,
    champion_alias: str | None = None,
    promote: str | None = None,
    run_id: str | None = None,
    stage: str | None = None,
    say: Say = lambda _: None,
) -> CheckOutcome:
    """Evaluate, compare, decide every gate, record the evidence; promote when asked and passed.

    The evidence goes on run ``run_id`` (a stage's run inside ``conveyor run``: the caller
    passes it) or else on a new run of kind ``check``. The context's principal is recorded
    on the tags and the promotion. Example::

        outcome = run_check(Context.resolve(), load_project(), promote="challenger")
        print(outcome.result.passed, [g.name for g in outcome.result.gates])
    """
    from conveyor.config import GatesConfig
    from conveyor.evaluation.candidate import default_candidate
    from conveyor.evaluation.data import read_frame
    from conveyor.registry import Registry
    from conveyor.tracking import open_run

    config = evaluation_config(project)
    gates = project.config.gates or GatesConfig()
    check_metric_names(gates)
    alias = champion_alias or (gates.champion.alias if gates.champion else "champion")
    registry = Registry(ctx)
    frame = read_frame(project.root / config.data, config.data)
    say(f"holdout {config.data}: {len(frame)} rows")
    uri = candidate_uri or config.model or default_candidate(project, registry.store)
    run = open_run(ctx, "check", "check", run_id=run_id, stage=stage)
    try:
        candidate = _score(registry, uri, frame, config, gates, say)
        champion = _champion(registry, config, alias, champion_alias, frame, gates, say)
        summaries = _validation(project, say)
        evidence = _evidence(alias, config, frame, candidate, champion, summaries, gates)
        decided = decide_gates(gates, ctx, evidence)
        result = CheckResult(
            passed=all(g.passed for g in decided),
            candidate=candidate.ref,
            candidate_eval=candidate.evaluation,
            holdout=config.data,
            holdout_digest=_digest(project.root / config.data),
            target=config.target,
            gates=decided,
            champion=champion.scored.ref if champion.scored else None,
            champion_eval=champion.scored.evaluation if champion.scored else None,
            champion_alias=alias,
            champion_note=champion.note,
            validation=summaries,
            lineage=_lineage(registry, candidate.ref),
        )
        predictions = prediction_table(frame, candidate, champion.scored, config, gates)
        result = record(run, registry, result, predictions, promote, config)
    except BaseException:
        if run.owned:
            run.end("failed")
        raise
    if run.owned:
        run.end("success" if result.passed else "failed")
    return CheckOutcome(result, predictions)


def check_metric_names(gates: GatesConfig) -> None:
    """Every metric a comparison or robustness gate names exists, before anything is scored."""
    import difflib

    from conveyor.evaluation.metrics import METRICS

    named = [
        (f"gates.champion.compare[{i}].metric", c.metric)
        for i, c in enumerate(gates.champion.compare if gates.champion else [])
    ] + [(f"gates.robustness[{i}].metric", r.metric) for i, r in enumerate(gates.robustness)]
    for where, metric in named:
        if metric not in METRICS:
            close = difflib.get_close_matches(metric, list(METRICS), n=1)
            raise ConfigError(
                f"conveyor.yaml: {where}: unknown metric {metric!r}",
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + f"metrics: {', '.join(sorted(METRICS))}",
            )


def _score(
    registry: Registry,
    uri: str,
    frame: pd.DataFrame,
    config: EvaluationConfig,
    gates: GatesConfig,
    say: Say,
) -> Scored:
    from conveyor.evaluation.metrics import evaluate
    from conveyor.loading import load_resolved

    resolved = registry.resolve(uri)
    ref = _ref(registry, uri, resolved, config.name)
    say(f"evaluating {ref.label}")
    model = load_resolved(resolved, registry.ctx)
    try:
        evaluation, predictions = evaluate(
            model,
            frame,
            config.target,
            task=config.task,
            positive_label=config.positive_label,
            slices=config.slices,
            latency_calls=config.latency_calls,
            exclude=[f.column for f in gates.fairness],
        )
    except (DataError, ModelError) as exc:  # say which data and which model
        raise type(exc)(f"{config.data}, {ref.label}: {exc.message}", hint=exc.hint) from exc
    return Scored(ref, model, evaluation, predictions)


def _ref(registry: Registry, uri: str, resolved: Resolved, name: str | None) -> ModelRef:
    """What was scored; a logged model already registered as ``name`` gets its version."""
    from conveyor.evaluation.record import version_of_model

    version = resolved.version
    name_version: tuple[str | None, int | None] = (None, None)
    if version is not None:
        name_version = (version.name, version.version)
    elif name is not None:
        found = version_of_model(registry, name, resolved.model.id)
        name_version = (name, found) if found is not None else (None, None)
    concrete = uri
    if not uri.startswith("models:/"):  # runs:/latest/model names a different model tomorrow
        concrete = f"runs:/{resolved.model.run_id}/{resolved.model.name}"
    return ModelRef(
        uri=concrete,
        model_id=resolved.model.id,
        run_id=resolved.model.run_id,
        name=name_version[0],
        version=name_version[1],
    )


def _champion(
    registry: Registry,
    config: EvaluationConfig,
    alias: str,
    asked: str | None,
    frame: pd.DataFrame,
    gates: GatesConfig,
    say: Say,
) -> Champion:
    """The champion scored on the same holdout, or why there is none.

    No registered model, or no version behind the configured alias, is the first check of a
    project: the comparison is skipped. An alias named on the command line that does not
    exist, or an ``evaluation.name`` that looks like a typo of a registered name, is an
    error: skipping would pass a check that was meant to compare.
    """
    if config.name is None:
        return Champion(None, "evaluation.name is not set: no registered model to compare with")
    try:
        model = registry.model(config.name)
    except NotFoundError as exc:
        if exc.hint and "did you mean" in exc.hint:
            raise ConfigError(
                f"conveyor.yaml: evaluation.name: no registered model named {config.name!r}",
                hint=exc.hint,
            ) from None
        return Champion(None, f"no model named {config.name!r} is registered yet")
    held = model.aliases.get(alias)
    if held is None:
        if asked is not None:
            known = ", ".join(f"@{a}" for a in model.aliases) or "none"
            raise NotFoundError(
                f"--champion {asked}: no version of {config.name} holds that alias",
                hint=f"its aliases: {known}",
            )
        return Champion(None, f"no version of {config.name} holds the alias {alias!r} yet")
    try:
        uri = f"models:/{config.name}@{alias}"
        return Champion(_score(registry, uri, frame, config, gates, say))
    except ConveyorError as exc:
        note = f"the {alias} {config.name}/{held} cannot score this holdout: {exc.message}"
        return Champion(None, note, blocking=True)


def _evidence(
    alias: str,
    config: EvaluationConfig,
    frame: pd.DataFrame,
    candidate: Scored,
    champion: Champion,
    summaries: list[ValidationSummary],
    gates: GatesConfig,
) -> Evidence:
    return Evidence(
        holdout=frame,
        target=config.target,
        features=feature_columns(candidate.model, frame, config, gates),
        candidate=candidate,
        champion=champion.scored,
        champion_alias=alias,
        champion_note=champion.note,
        champion_blocking=champion.blocking,
        validation=summaries,
    )


def feature_columns(
    model: LoadedModel, frame: pd.DataFrame, config: EvaluationConfig, gates: GatesConfig
) -> list[str]:
    """The signature's columns; without one, every column but the target and sensitive ones."""
    signature = model.signature
    if signature is not None and signature.columns is not None:
        return list(signature.columns)
    left_out = {config.target, *(f.column for f in gates.fairness)}
    return [str(c) for c in frame.columns if c not in left_out]


def prediction_table(
    frame: pd.DataFrame,
    candidate: Scored,
    champion: Scored | None,
    config: EvaluationConfig,
    gates: GatesConfig,
) -> pd.DataFrame:
    """One row per holdout row: truth, both models' predictions and scores, slice columns."""
    import pandas as pd

    table: dict[str, Any] = {"y_true": candidate.predictions.y_true}
    for role, scored in (("candidate", candidate), ("champion", champion)):
        if scored is None:
            continue
        table[f"{role}_pred"] = scored.predictions.y_pred
        scores = scored.predictions.scores
        if scores is not None and scores.ndim == 1:
            table[f"{role}_score"] = scores
    kept = dict.fromkeys([*config.slices, *(f.column for f in gates.fairness)])
    for column in kept:
        if column in frame.columns and column not in table:
            table[column] = frame[column].to_numpy()
    return pd.DataFrame(table)


def _validation(project: Project, say: Say) -> list[ValidationSummary]:
    if not project.config.validation:
        return []
    from conveyor.validation import validate_declared

    say(f"validating {len(project.config.validation)} declared data set(s)")
    return [
        report.summary(name) for name, report in validate_declared(project.root, project.config)
    ]


def _lineage(registry: Registry, ref: ModelRef) -> list[str]:
    from conveyor.registry import render_tree

    if ref.name and ref.version is not None:
        return render_tree(registry.lineage(ref.name, ref.version))
    if ref.model_id is None:
        return []
    return render_tree(registry.model_lineage(registry.store.models.get_model(ref.model_id)))


def _digest(path: Path) -> str:
    from conveyor.hashing import hash_file

    return hash_file(path)
