"""Where a check's evidence goes: a run's artifacts and tags, the model version, the alias.

``check.json`` and ``predictions.parquet`` are logged on the run (the stage's run inside
``conveyor run``); the version checked is tagged ``check`` = passed/failed and ``check.run``
(and ``check.failed``, the gates that failed); ``--promote`` registers the candidate (once:
a model already registered keeps its version) and moves the alias. A candidate that fails is
registered too (when the model's name is known) and marked ``rejected``, so the registry is
the audit trail of every candidate checked; a rejected version takes no alias until a person
puts it back to ``candidate``. :func:`load_check` reads a stored check back for
``conveyor report``.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConfigError, NotFoundError
from conveyor.evaluation.results import (
    CHECK_FILE,
    PREDICTIONS_FILE,
    CheckOutcome,
    CheckResult,
    ModelRef,
)

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.config import EvaluationConfig
    from conveyor.context import Context
    from conveyor.registry import Registry
    from conveyor.tracking import ActiveRun


FAILED_TAG_CHARS = 1000  # the gates' names in a tag; the whole evidence is on the run


def record(
    run: ActiveRun,
    registry: Registry,
    result: CheckResult,
    predictions: pd.DataFrame,
    promote: str | None,
    config: EvaluationConfig,
) -> CheckResult:
    """Store the evidence on a run, tag the version, move the alias when asked and passed."""
    from conveyor.gitinfo import recent_git_info
    from conveyor.ids import utcnow
    from conveyor.registry import render_tree

    result = replace(
        result,
        run_id=run.id,
        created_at=utcnow().isoformat(),
        git_commit=recent_git_info(registry.ctx.base).commit,
    )
    if not result.passed:
        result = _reject(registry, result, config)
    elif promote:
        promoted = _promote(registry, result, promote, config)
        name, version = promoted["name"], promoted["version"]
        result = replace(  # the candidate is now a registered version: say which
            result,
            promoted=promoted,
            candidate=replace(result.candidate, name=name, version=version),
            lineage=render_tree(registry.lineage(name, version)),
        )
    _log(run, result, predictions)
    _tag_version(registry, result)
    return result


def _log(run: ActiveRun, result: CheckResult, predictions: pd.DataFrame) -> None:
    import json

    metrics = {f"candidate.{k}": v for k, v in result.candidate_eval.metrics.items()}
    if result.champion_eval is not None:
        metrics |= {f"champion.{k}": v for k, v in result.champion_eval.metrics.items()}
    run.log_metrics(metrics)
    run.set_tags(
        {
            "check": "passed" if result.passed else "failed",
            "check.candidate": result.candidate.label,
            "check.champion": result.champion.label if result.champion else "",
        }
    )
    with tempfile.TemporaryDirectory(prefix="conveyor-check-") as tmp:
        check_file = Path(tmp) / CHECK_FILE
        check_file.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
        predictions_file = Path(tmp) / PREDICTIONS_FILE
        predictions.to_parquet(predictions_file, index=False)
        run.log_artifact(check_file)
        run.log_artifact(predictions_file)
    run.flush()


def _promote(
    registry: Registry, result: CheckResult, alias: str, config: EvaluationConfig
) -> dict[str, Any]:
    candidate = result.candidate
    name = candidate.name or config.name
    if name is None:
        raise ConfigError(
            "cannot promote: the candidate is not a registered version and evaluation.name "
            "is not set",
            hint="set evaluation.name in conveyor.yaml to the registered model's name",
        )
    version = _registered(registry, candidate, name)
    if alias == "champion":  # the champion is approved for production; other aliases are not
        previous = registry.promote(name, version, alias)
    else:
        previous = registry.set_alias(name, version, alias)
    return {"name": name, "version": version, "alias": alias, "previous": previous}


def _reject(registry: Registry, result: CheckResult, config: EvaluationConfig) -> CheckResult:
    """Put a failed candidate on record: registered (once) under the model's name, rejected.

    A version that holds an alias (the champion re-checked) keeps its status: rejecting it
    would leave the alias pointing at a rejected version; its tags still say it failed.
    """
    name = result.candidate.name or config.name
    if name is None:  # nothing to register it under; the evidence stays on the run
        return result
    version = _registered(registry, result.candidate, name)
    current = registry.store.registry.get_version(name, version)
    status = current.status
    if status in ("candidate", "approved") and not current.aliases:
        registry.set_status(name, version, "rejected")
        status = "rejected"
    return replace(
        result,
        recorded={"name": name, "version": version, "status": status},
        candidate=replace(result.candidate, name=name, version=version),
    )


def _registered(registry: Registry, candidate: ModelRef, name: str) -> int:
    """The candidate's version of ``name``, registering it if it has none yet."""
    version = candidate.version if candidate.name == name else None
    if version is None:
        version = version_of_model(registry, name, candidate.model_id)
    if version is None:
        logged = registry.store.models.get_model(str(candidate.model_id))
        version = registry.register(f"runs:/{logged.run_id}/{logged.name}", name).version
    return version


def version_of_model(registry: Registry, name: str, model_id: str | None) -> int | None:
    """The version of ``name`` that registered the logged model ``model_id``, if any."""
    try:
        versions = registry.store.registry.list_versions(name, limit=1000)
    except NotFoundError:
        return None
    return next((v.version for v in versions if v.model_id == model_id), None)


def _tag_version(registry: Registry, result: CheckResult) -> None:
    """Record the outcome on the version checked (and the one just registered, if any)."""
    name, version = result.candidate.name, result.candidate.version
    if result.promoted:
        name, version = result.promoted["name"], result.promoted["version"]
    if name is None or version is None:
        return
    tags = {"check": "passed" if result.passed else "failed", "check.run": str(result.run_id)}
    if not result.passed:
        failed = [gate.name for gate in result.gates if gate.status == "failed"]
        tags["check.failed"] = "; ".join(failed)[:FAILED_TAG_CHARS]
    registry.set_tags(name, version, tags)


def load_check(ctx: Context, run_id: str | None = None) -> CheckOutcome:
    """A stored check (the latest, or the one recorded on ``run_id``), for ``conveyor report``."""
    import json

    import pandas as pd

    from conveyor.model_files import fetch_tree

    store = ctx.store
    if run_id is None:
        found = store.runs.find(where="tags.check != ''", limit=1)
        if not found:
            raise NotFoundError("no check has been recorded yet", hint="run `conveyor check` first")
        run_id = found[0].id
    run = store.runs.get(run_id)
    files = {a.path: a for a in store.models.artifacts_of(run.id)}
    if CHECK_FILE not in files:
        raise NotFoundError(
            f"run {run.id} holds no check result", hint="give the id of a `conveyor check` run"
        )
    artifacts = ctx.artifacts
    cache = ctx.state_dir / "checks"

    def fetched(name: str) -> Path:
        return fetch_tree(artifacts, files[name].digest, files[name].kind, cache)

    result = CheckResult.from_dict(json.loads(fetched(CHECK_FILE).read_text("utf-8")))
    predictions = (
        pd.read_parquet(fetched(PREDICTIONS_FILE)) if PREDICTIONS_FILE in files else pd.DataFrame()
    )
    return CheckOutcome(result, predictions)
