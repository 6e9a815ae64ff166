"""The model registry: versions, aliases, statuses, URIs and lineage.

Model URIs:
    models:/churn@champion    the version the alias points at
    models:/churn/3           version 3
    models:/churn             the latest version that is not archived or rejected
    runs:/<run id>/model      a model logged on a run (registered or not)
    runs:/latest/model        ... on the newest run that logged a model

Statuses move ``candidate -> approved | rejected``, any of them ``-> archived``; every
change (and every alias move) is an event with who, when and from -> to, so
``rollback`` can later find the previous holder of an alias.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConflictError, InvalidValue, NotFoundError
from conveyor.store.entities import LoggedModel, Run, StageRun
from conveyor.store.entities import ModelEvent as ModelEvent  # re-exported for the CLI
from conveyor.store.entities import ModelVersion as ModelVersion
from conveyor.store.entities import RegisteredModel as RegisteredModel

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.store import Store

STATUSES = ("candidate", "approved", "rejected", "archived")
TRANSITIONS = {
    "candidate": {"approved", "rejected", "archived"},
    "approved": {"rejected", "archived"},
    "rejected": {"candidate", "archived"},
    "archived": set(),
}
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
URI = re.compile(
    r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))?/?|runs:/(?P<run>[0-9a-f]+|latest)"
    r"(?:/(?P<model>[^/]+))?/?"
)


@dataclass(frozen=True)
class Resolved:
    """What a URI names: the logged model, and the registered version if there is one."""

    model: LoggedModel
    version: ModelVersion | None


@dataclass(frozen=True)
class Node:
    """One line of a lineage tree, with what it came from below it."""

    label: str
    data: dict[str, Any]
    children: tuple[Node, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {**self.data, "from": [child.as_dict() for child in self.children]}


@dataclass(frozen=True)
class VersionDetails:
    """A version, the model it holds, and its history (``conveyor models show NAME/3``)."""

    version: ModelVersion
    model: LoggedModel
    events: list[ModelEvent]


class Registry:
    """The registry service over a context; its principal is recorded on every change."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def actor(self) -> str | None:
        """Who the events name: the context's principal."""
        return self.ctx.principal.name

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, with its latest version and aliases."""
        return self.store.registry.list_models()

    def versions(self, name: str) -> list[ModelVersion]:
        """The versions of ``name``; an unknown name gets "did you mean"."""
        self.model(name)
        return self.store.registry.list_versions(name)

    def search(self, where: str = "", order_by: str = "", limit: int = 100) -> list[ModelVersion]:
        """Versions matching a filter (``--where``), ordered by ``--order-by``."""
        return self.store.registry.search_versions(where, order_by, limit)

    def details(self, name: str, version: int) -> VersionDetails:
        """A version with its logged model and its events."""
        found = self.version(name, version)
        model = self.store.models.get_model(found.model_id)
        return VersionDetails(found, model, self.store.registry.events(name, version))

    def events(self, name: str, version: int | None = None) -> list[ModelEvent]:
        """The history of ``name`` (or of one version), oldest first."""
        self.model(name)
        return self.store.registry.events(name, version)

    def delete_alias(self, name: str, version: int, alias: str) -> None:
        """Remove ``alias``, which must point at ``version`` (checked in the transaction
        that deletes it, so an alias moved meanwhile is never removed by mistake)."""
        self.version(name, version)
        self.store.registry.delete_alias(name, alias, self.actor, version=version)

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        """Set tags on a version, or on the model itself when ``version`` is 0."""
        if version:
            self.version(name, version)
        else:
            self.model(name)
        self.store.registry.set_tags(name, version, tags, self.actor)

    def register(self, source: str, name: str, description: str | None = None) -> ModelVersion:
        """Register the model ``source`` names (a ``runs:/`` URI or a run id) as ``name``."""
        _check(MODEL_NAME, name, "model name", "letters, digits, '_', '.' and '-'")
        if source.startswith(("runs:/", "models:/")):
            model = self.resolve(source).model
        elif source == "latest" or re.fullmatch(r"[0-9a-f]{1,32}", source):
            model = self.resolve(f"runs:/{source}").model
        else:
            raise InvalidValue(
                f"{source!r} is neither a run id nor a model URI",
                hint="give a run id (see `conveyor runs`), latest, or runs:/RUN/MODEL",
            )
        return self.store.registry.create_version(
            name, model.id, model.run_id, self.actor, description
        )

    def set_alias(self, name: str, version: int, alias: str) -> int | None:
        """Point ``alias`` at ``version``; returns the version that held it before."""
        _check_alias(alias)
        target = self.store.registry.get_version(name, version)
        if target.status == "rejected":
            raise _rejected(target, "an alias cannot point at it")
        if target.status == "archived":
            raise ConflictError(
                f"{name}/{version} is archived; an alias cannot point at it",
                hint="choose a candidate or approved version",
            )
        return self.store.registry.set_alias(name, alias, version, self.actor)

    def promote(self, name: str, version: int, to: str = "champion") -> int | None:
        """Move alias ``to`` onto ``version`` (approving it); the old holder stays in history."""
        _check_alias(to)
        target = self.store.registry.get_version(name, version)
        if target.status == "rejected":
            raise _rejected(target, "it cannot be promoted")
        if target.status == "candidate":
            self.set_status(name, version, "approved")
        if self.store.registry.get_version(name, version).status != "approved":
            raise ConflictError(
                f"{name}/{version} is {target.status} and cannot be promoted",
                hint="only candidate or approved versions can be promoted",
            )
        return self.store.registry.set_alias(name, to, version, self.actor, kind="promote")

    def set_status(self, name: str, version: int, status: str) -> str:
        """Change a version's status along the allowed transitions."""
        if status not in STATUSES:
            raise InvalidValue(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        current = self.store.registry.get_version(name, version)
        if status != current.status and status not in TRANSITIONS[current.status]:
            allowed = ", ".join(sorted(TRANSITIONS[current.status])) or "nothing"
            raise ConflictError(
                f"{name}/{version} is {current.status}; it cannot become {status}",
                hint=f"from {current.status} it can become: {allowed}",
            )
        if status in ("archived", "rejected") and current.aliases:
            raise ConflictError(
                f"{name}/{version} holds alias(es) {', '.join(current.aliases)}",
                hint="move them to another version first (`conveyor models promote`)",
            )
        return self.store.registry.set_status(name, version, status, self.actor)

    def archive(self, name: str, version: int) -> None:
        """Archive a version (it keeps its files and history, and loses nothing)."""
        self.set_status(name, version, "archived")

    def resolve(self, uri: str) -> Resolved:
        """The logged model (and registered version) a model URI names."""
        match = URI.fullmatch(uri.strip())
        if match is None:
            raise InvalidValue(
                f"{uri!r} is not a model URI",
                hint="use models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME "
                "or runs:/RUN_ID/MODEL",
            )
        if match["run"]:
            run_id = (
                self._latest_run_with_model()
                if match["run"] == "latest"
                else (self.store.runs.get(match["run"]).id)
            )
            return Resolved(self.store.models.model_of(run_id, match["model"]), None)
        version = self._version_of(match["name"], match["alias"], match["version"])
        return Resolved(self.store.models.get_model(version.model_id), version)

    def version(self, name: str, version: int) -> ModelVersion:
        """A registered version; unknown names get "did you mean" suggestions."""
        self.model(name)
        return self.store.registry.get_version(name, version)

    def model(self, name: str) -> RegisteredModel:
        """A registered model; unknown names get "did you mean" suggestions."""
        try:
            return self.store.registry.get_model(name)
        except NotFoundError:
            raise NotFoundError(
                f"no registered model named {name!r}",
                hint=_did_you_mean(name, self.store.registry.model_names(), "registered models"),
            ) from None

    def _latest_run_with_model(self) -> str:
        for run in self.store.runs.find(limit=50):
            if self.store.models.models_of(run.id):
                return run.id
        raise NotFoundError("none of the last 50 runs logged a model", hint="see `conveyor runs`")

    def _version_of(self, name: str, alias: str | None, number: str | None) -> ModelVersion:
        model = self.model(name)
        if alias is not None:
            held = model.aliases.get(alias)
            if held is None:
                raise NotFoundError(
                    f"model {name!r} has no alias {alias!r}",
                    hint=_did_you_mean(alias, list(model.aliases), "its aliases"),
                )
            return self.store.registry.get_version(name, held)
        if number is not None:
            return self.store.registry.get_version(name, int(number))
        offered = [
            v
            for v in self.store.registry.list_versions(name)
            if v.status in ("candidate", "approved")
        ]
        if not offered:
            raise NotFoundError(
                f"model {name!r} has no candidate or approved version",
                hint="name a version (models:/NAME/3) to load an archived or rejected one",
            )
        return max(offered, key=lambda v: v.version)

    def lineage(self, name: str, version: int) -> Node:
        """model version <- run <- stage executions <- data digests <- git commit."""
        found = self.version(name, version)
        model = self.store.models.get_model(found.model_id)
        run = self.store.runs.get(model.run_id)
        aliases = "".join(f" @{a}" for a in found.aliases)
        root_data = {
            "kind": "model_version",
            "name": name,
            "version": version,
            "status": found.status,
            "aliases": list(found.aliases),
            "flavor": model.flavor,
            "digest": model.digest,
            "logged_by_run": model.info.get("logged_by_run", model.run_id),
        }
        label = (
            f"{name}/{version} ({found.status}{aliases}) {model.flavor} model {model.digest[:12]}"
        )
        if "logged_by_run" in model.info:  # the stage was restored from the cache in this run
            label += f", logged by run {model.info['logged_by_run']}"
        return Node(label, root_data, (_run_node(run, model.stage),))

    def model_lineage(self, model: LoggedModel) -> Node:
        """A logged model that is not registered: model <- run <- stages <- data <- commit."""
        run = self.store.runs.get(model.run_id)
        label = f"{model.flavor} model {model.name!r} {model.digest[:12]} (not registered)"
        data = {"kind": "model", "name": model.name, "flavor": model.flavor, "digest": model.digest}
        return Node(label, data, (_run_node(run, model.stage),))


def _run_node(run: Run, stage: str | None) -> Node:
    commit = (run.git_commit or "no git")[:12] + (" dirty" if run.git_dirty else "")
    params = ", ".join(f"{k}={v}" for k, v in sorted(run.params.items()))
    data = {
        "kind": "run",
        "id": run.id,
        "git_commit": run.git_commit,
        "git_dirty": run.git_dirty,
        "params": run.params,
        "started_at": run.started_at.isoformat(),
    }
    label = f"run {run.id} (git {commit})" + (f" params: {params}" if params else "")
    by_name = {s.stage: s for s in run.stages}
    children: tuple[Node, ...] = ()
    if stage and stage in by_name:
        children = (_stage_node(by_name[stage], run.stages, set()),)
    elif run.stages:  # a model logged outside a stage: show the stages of the run
        children = tuple(_stage_node(s, run.stages, set()) for s in run.stages)
    return Node(label, data, children)


def _stage_node(stage: StageRun, stages: tuple[StageRun, ...], seen: set[str]) -> Node:
    seen = seen | {stage.stage}
    data = {"kind": "stage", "stage": stage.stage, "status": stage.status, "key": stage.key}
    children = []
    for path, record in sorted(stage.deps.items()):
        producer = next((s for s in stages if s.stage not in seen and _produces(s, path)), None)
        below = (_stage_node(producer, stages, seen),) if producer else ()
        dep_data = {"kind": "data", "path": path, "digest": record.get("digest")}
        children.append(Node(f"{path} {str(record.get('digest'))[:12]}", dep_data, below))
    key = (stage.key or "")[:12]
    return Node(f"stage {stage.stage} ({stage.status}, key {key})", data, tuple(children))


def _produces(stage: StageRun, path: str) -> bool:
    return any(path == out or path.startswith(out + "/") for out in stage.outs)


def render_tree(node: Node, prefix: str = "", last: bool = True, top: bool = True) -> list[str]:
    """The lineage as text lines, drawn with box characters."""
    lines = [node.label if top else f"{prefix}{'└── ' if last else '├── '}{node.label}"]
    inner = "" if top else prefix + ("    " if last else "│   ")
    for index, child in enumerate(node.children):
        lines += render_tree(child, inner, index == len(node.children) - 1, top=False)
    return lines


def _rejected(version: ModelVersion, refused: str) -> ConflictError:
    """A rejected version takes no alias: the override is to put it back, on record."""
    name, number = version.name, version.version
    run = version.tags.get("check.run") if version.tags.get("check") == "failed" else None
    why = f" (it failed its check (run {run}): {version.tags.get('check.failed', '')})"
    return ConflictError(
        f"{name}/{number} is rejected{why if run else ''}; {refused}",
        hint=f"to override the rejection, put it back on record as a candidate "
        f"(`conveyor models status {name} {number} candidate`, recorded with your name), "
        "then promote it",
    )


def _check_alias(alias: str) -> None:
    _check(ALIAS, alias, "alias", "a letter, then letters, digits, '_' and '-'")
    if alias == "latest":
        raise InvalidValue("'latest' is reserved: models:/NAME already means the latest")


def _check(pattern: re.Pattern[str], value: str, what: str, rule: str) -> None:
    if not pattern.fullmatch(value):
        raise InvalidValue(f"{what} {value!r} may hold only {rule}")


def _did_you_mean(wanted: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(wanted, known, n=3)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return f"{what}: {', '.join(known)}" if known else f"there are no {what} yet"
