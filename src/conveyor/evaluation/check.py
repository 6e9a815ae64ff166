"""``conveyor check``: evaluate the candidate and the champion on one holdout, decide the gates.

::

    holdout ──> candidate ──> evaluation ─┬─> gates ──> CheckResult ──> run (check.json,
            └─> champion  ──> evaluation ─┘                               predictions.parquet)
                                                                     └─> model version tags
                                                                     └─> alias (--promote)

The result is stored on a run (the stage's run inside ``conveyor run``, else a run of kind
``check``) as two artifacts that ``conveyor report`` renders from, and as tags on the model
version (``check`` = passed/failed, ``check.run`` = the run holding the evidence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, ConveyorError, DataError, ModelError, NotFoundError
from conveyor.evaluation import gates as decide
from conveyor.evaluation.record import record
from conveyor.evaluation.results import (
    CheckResult,
    Evaluation,
    GateResult,
    ModelRef,
    ValidationSummary,
)

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.config import EvaluationConfig, GatesConfig
    from conveyor.evaluation.predict import Predictions
    from conveyor.modelpack import LoadedModel
    from conveyor.project import Project
    from conveyor.registry import Registry, Resolved
    from conveyor.tracking import Where

Say = Callable[[str], None]


@dataclass(frozen=True)
class Scored:
    """A model, what it is, and what it said on the holdout."""

    ref: ModelRef
    model: LoadedModel
    evaluation: Evaluation
    predictions: Predictions


@dataclass(frozen=True)
class CheckOutcome:
    """The decided check and the per-row predictions it rests on."""

    result: CheckResult
    predictions: pd.DataFrame


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
    project: Project, config: EvaluationConfig, uri: str, say: Say = lambda _: None
) -> Scored:
    """Score the model ``uri`` names on ``config``'s holdout (``conveyor evaluate``)."""
    from conveyor.config import GatesConfig
    from conveyor.evaluation.data import read_frame
    from conveyor.registry import Registry
    from conveyor.tracking import Where, _open_store

    where = Where.from_environment()
    frame = read_frame(project.root / config.data, config.data)
    say(f"{config.data}: {len(frame)} rows")
    registry = Registry(_open_store(where), None)
    return _score(registry, where, uri, frame, config, GatesConfig(), say)


def run_check(
    project: Project,
    *,
    candidate_uri: str | None = None,
    champion_alias: str | None = None,
    promote: str | None = None,
    actor: str | None = None,
    say: Say = lambda _: None,
) -> CheckOutcome:
    """Evaluate, compare, decide every gate, record the evidence; promote when asked and passed.

    Example::

        outcome = run_check(load_project(), promote="challenger")
        print(outcome.result.passed, [g.name for g in outcome.result.gates])
    """
    from conveyor.config import GatesConfig
    from conveyor.evaluation.data import read_frame
    from conveyor.registry import Registry
    from conveyor.tracking import Where, _open_store

    config = evaluation_config(project)
    gates = project.config.gates or GatesConfig()
    alias = champion_alias or (gates.champion.alias if gates.champion else "champion")
    where = Where.from_environment()
    registry = Registry(_open_store(where), actor)
    frame = read_frame(project.root / config.data, config.data)
    say(f"holdout {config.data}: {len(frame)} rows")
    from conveyor.tracking import open_run

    run = open_run("check", "check")
    try:
        candidate = _score(
            registry, where, candidate_uri or config.model, frame, config, gates, say
        )
        champion, note = _champion(registry, where, config, alias, frame, gates, say)
        decided = _gates(gates, config, frame, candidate, champion, note)
        result = CheckResult(
            passed=all(g.passed for g in decided),
            candidate=candidate.ref,
            candidate_eval=candidate.evaluation,
            holdout=config.data,
            holdout_digest=_digest(project.root / config.data),
            target=config.target,
            gates=decided,
            champion=champion.ref if champion else None,
            champion_eval=champion.evaluation if champion else None,
            champion_alias=alias,
            champion_note=note,
            validation=_validation(project, say),
            lineage=_lineage(registry, candidate.ref),
        )
        predictions = prediction_table(frame, candidate, champion, config, gates)
        result = record(run, registry, where, result, predictions, promote, config)
    except BaseException:
        if run.owned:
            run.end("failed")
        raise
    if run.owned:
        run.end("success" if result.passed else "failed")
    return CheckOutcome(result, predictions)


def _score(
    registry: Registry,
    where: Where,
    uri: str,
    frame: pd.DataFrame,
    config: EvaluationConfig,
    gates: GatesConfig,
    say: Say,
) -> Scored:
    from conveyor.evaluation.metrics import evaluate
    from conveyor.loading import load_resolved

    resolved = registry.resolve(uri)
    ref = _ref(registry, uri, resolved)
    say(f"evaluating {ref.label}")
    model = load_resolved(resolved, where)
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


def _ref(registry: Registry, uri: str, resolved: Resolved) -> ModelRef:
    version = resolved.version
    return ModelRef(
        uri=uri,
        model_id=resolved.model.id,
        run_id=resolved.model.run_id,
        name=version.name if version else None,
        version=version.version if version else None,
    )


def _champion(
    registry: Registry,
    where: Where,
    config: EvaluationConfig,
    alias: str,
    frame: pd.DataFrame,
    gates: GatesConfig,
    say: Say,
) -> tuple[Scored | None, str | None]:
    """The champion scored on the same holdout, or why there is none."""
    if config.name is None:
        return None, "evaluation.name is not set, so there is no registered model to compare with"
    try:
        held = registry.model(config.name).aliases.get(alias)
    except NotFoundError:
        return None, f"no model named {config.name!r} is registered yet: nothing to compare with"
    if held is None:
        return None, f"no version of {config.name} holds the alias {alias!r} yet"
    try:
        return _score(
            registry, where, f"models:/{config.name}@{alias}", frame, config, gates, say
        ), None
    except ConveyorError as exc:
        return None, f"the {alias} {config.name}/{held} cannot score this holdout: {exc.message}"


def _gates(
    gates: GatesConfig,
    config: EvaluationConfig,
    frame: pd.DataFrame,
    candidate: Scored,
    champion: Scored | None,
    note: str | None,
) -> list[GateResult]:
    decided = decide.threshold_gates(gates.thresholds, candidate.evaluation)
    if gates.champion is not None:
        compared = decide.comparison_gates(
            gates.champion, candidate.predictions, champion.predictions if champion else None, note
        )
        if note and "cannot score" in note:  # a champion that exists but cannot be compared
            compared = [replace(g, status="failed") for g in compared]
        decided += compared
    decided += decide.fairness_gates(gates.fairness, candidate.predictions, frame)
    if gates.robustness:
        decided += decide.robustness_gates(
            gates.robustness,
            candidate.model,
            frame,
            config.target,
            candidate.predictions,
            _numeric_features(candidate.model, frame, config, gates),
            candidate.evaluation,
        )
    if gates.operational is not None:
        decided += decide.operational_gates(gates.operational, candidate.evaluation)
    return decided


def _numeric_features(
    model: LoadedModel, frame: pd.DataFrame, config: EvaluationConfig, gates: GatesConfig
) -> list[str]:
    import pandas as pd

    signature = model.signature
    if signature is not None and signature.columns is not None:
        columns = list(signature.columns)
    else:
        left_out = {config.target, *(f.column for f in gates.fairness)}
        columns = [c for c in frame.columns if c not in left_out]
    return [c for c in columns if c in frame and pd.api.types.is_numeric_dtype(frame[c])]


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
