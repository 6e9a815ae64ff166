"""Search as SQL, one suite on every backend, checked against a plain-Python reference.

The seed is a few hundred runs (and model versions) drawn with a fixed random seed, rich in
the awkward cases: NaN and infinite metrics, missing keys, NULL attributes, tied start
times, params whose text holds LIKE and GLOB wildcards, and mixed case.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Select, select

from conveyor.errors import FilterSyntaxError, StoreError
from conveyor.search import (
    RUN_ATTRIBUTES,
    VERSION_ATTRIBUTES,
    Condition,
    Kind,
    OrderBy,
    format_filter,
    parse_filter,
    parse_order_by,
    parse_time,
)
from conveyor.store import Store, open_store
from conveyor.store import search as store_search
from conveyor.store.engine import SessionScope
from conveyor.store.entities import NewRun
from conveyor.store.search import (
    RUN_COLUMNS,
    VERSION_COLUMNS,
    filter_runs,
    filter_versions,
    order_runs,
    order_versions,
    page_runs,
    page_versions,
)
from conveyor.store.tables import (
    LatestMetricRow,
    LoggedModelRow,
    ModelTagRow,
    ModelVersionRow,
    ParamRow,
    RegisteredModelRow,
    RunRow,
    TagRow,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
N_RUNS = 240
METRIC_KEYS = ("auc", "loss", "val loss", "train/acc")
PARAM_VALUES = (
    "1.0", "0.5", "10", "abc", "Abc", "a_c", "a%c", "x*y", "why?", "[z]", "it's", "back\\slash",
)  # fmt: skip
TEAMS = ("risk", "Risk", "ops", "growth")
STATUSES = ("finished", "failed", "running", "crashed")


@dataclass
class Item:
    """A run or a model version as the reference sees it: every searchable field."""

    id: str
    attributes: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)  # NaN kept as NaN
    params: dict[str, str | None] = field(default_factory=dict)  # None: text not recorded
    tags: dict[str, str] = field(default_factory=dict)

    def get(self, kind: Kind, key: str) -> Any:
        """The value a condition compares, or None when it cannot match (missing, NaN)."""
        if kind == "attribute":
            return self.attributes.get(key)
        value = {"metric": self.metrics, "param": self.params, "tag": self.tags}[kind].get(key)
        return None if isinstance(value, float) and math.isnan(value) else value


# --- the seed ------------------------------------------------------------------------------


def draw_metric(rng: random.Random) -> float:
    return rng.choice([math.nan, math.inf, -math.inf] + [round(rng.random(), 1)] * 12)


def draw_run(rng: random.Random, index: int) -> Item:
    status = rng.choice(STATUSES)
    started_at = T0 + timedelta(minutes=rng.randrange(N_RUNS // 2))  # ties on purpose
    attributes = {
        "run_id": f"{index:04d}{rng.getrandbits(32):08x}",
        "status": status,
        "name": rng.choice([None, "exp-1", "exp-2", "Exp_3", "baseline"]),
        "user": rng.choice([None, "alice", "bob"]),
        "trigger": rng.choice(["cli", "ci", "sdk"]),
        "kind": rng.choice(["pipeline", "script"]),
        "git_commit": rng.choice([None, f"{rng.getrandbits(40):010x}", "abcdef0123"]),
        "git_branch": rng.choice([None, "main", "feature/x"]),
        "started_at": started_at,
        "ended_at": None if status == "running" else started_at + timedelta(minutes=30),
    }
    item = Item(attributes["run_id"], attributes)
    item.metrics = {k: draw_metric(rng) for k in METRIC_KEYS if rng.random() < 0.8}
    item.params = {
        k: rng.choice(PARAM_VALUES) if rng.random() < 0.95 else None
        for k in ("C", "opt", "model.depth")
        if rng.random() < 0.85
    }
    item.tags = {"team": rng.choice(TEAMS)} if rng.random() < 0.8 else {}
    if rng.random() < 0.5:
        item.tags["note"] = rng.choice(["ok", "OK", "retry 1", ""])
    return item


def run_row(item: Item) -> RunRow:
    a = item.attributes
    return RunRow(
        id=item.id,
        project="demo",
        targets={},
        git_dirty=None,
        **{k: a[k] for k in a if k != "run_id"},
    )


def run_children(item: Item) -> Iterator[Any]:
    for key, value in item.metrics.items():
        stored = None if math.isnan(value) else value
        yield LatestMetricRow(run_id=item.id, key=key, value=stored, step=3)
    for key, param in item.params.items():
        yield ParamRow(run_id=item.id, key=key, value=f'"{param}"', text=param)
    for key, tag in item.tags.items():
        yield TagRow(run_id=item.id, key=key, value=tag)


def draw_versions(rng: random.Random, runs: Sequence[Item]) -> list[Item]:
    versions = []
    for name in MODELS:
        for number in range(1, rng.randrange(15, 40)):
            run = rng.choice(runs)
            orphan = rng.random() < 0.05  # a run id with no run: no metrics, no params
            attributes = {
                "name": name,
                "version": number,
                "status": rng.choice(["candidate", "approved", "rejected", "archived"]),
                "run_id": "f" * 12 if orphan else run.id,
                "created_at": T0 + timedelta(hours=rng.randrange(40)),
                "created_by": rng.choice([None, "alice", "bob"]),
            }
            version = Item(f"{name}/{number}", attributes)
            if not orphan:
                version.metrics, version.params = run.metrics, run.params
            version.tags = {k: rng.choice(v) for k, v in VERSION_TAGS.items() if rng.random() < 0.7}
            versions.append(version)
    return versions


VERSION_TAGS = {"stage": ("prod", "staging", "Prod"), "owner": ("risk", "ops")}


def logged_model_row(item: Item, model_run: str) -> LoggedModelRow:
    return LoggedModelRow(
        id=item.id.replace("/", "-"),
        run_id=model_run,
        name="model",
        flavor="sklearn",
        digest="0" * 64,
        info={},
        created_at=T0,
    )


def version_rows(item: Item) -> Iterator[Any]:
    a = item.attributes
    yield ModelVersionRow(model_id=item.id.replace("/", "-"), description=None, **a)


def version_tag_rows(item: Item) -> Iterator[ModelTagRow]:
    for key, value in item.tags.items():
        name, version = item.attributes["name"], item.attributes["version"]
        yield ModelTagRow(name=name, version=version, key=key, value=value)


MODELS = ("churn", "fraud", "Churn-2")


@dataclass
class Seeded:
    store: Store
    runs: list[Item]
    versions: list[Item]


@pytest.fixture
def seeded(store_url: str) -> Iterator[Seeded]:
    store = open_store(store_url)
    rng = random.Random(20260301)
    runs = [draw_run(rng, i) for i in range(N_RUNS)]
    versions = draw_versions(rng, runs)
    # the rows have no ORM relationships, so nothing orders the inserts by foreign key:
    # each batch is flushed before the batch that refers to it
    batches: list[list[Any]] = [
        [run_row(item) for item in runs],
        [row for item in runs for row in run_children(item)]
        + [RegisteredModelRow(name=name, created_at=T0, updated_at=T0) for name in MODELS]
        + [logged_model_row(item, runs[0].id) for item in versions],
        [row for item in versions for row in version_rows(item)]
        # a model-level tag (version 0) that version search must not see
        + [ModelTagRow(name=name, version=0, key="stage", value="prod") for name in MODELS],
        [row for item in versions for row in version_tag_rows(item)],
    ]
    with SessionScope(store.engine, store.url)() as session:
        for batch in batches:
            session.add_all(batch)
            session.flush()
    try:
        yield Seeded(store, runs, versions)
    finally:
        store.close()


# --- the reference -----------------------------------------------------------------------


def like(pattern: str, value: str, *, fold: bool) -> bool:
    regex = "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern
    )
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if fold else 0)  # ASCII case only
    return re.fullmatch(regex, value, flags) is not None


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "IN": lambda a, b: a in b,
    "LIKE": lambda a, b: like(b, a, fold=False),
    "ILIKE": lambda a, b: like(b, a, fold=True),
}


def meets(item: Item, condition: Condition) -> bool:
    actual = item.get(condition.kind, condition.key)
    if actual is None:
        return False
    expected = condition.value
    if isinstance(actual, datetime) and isinstance(expected, str):
        expected = parse_time(expected)
    return COMPARE[condition.op](actual, expected)


def reference(
    items: Sequence[Item], where: str, order: str | None, attributes: frozenset[str]
) -> list[str]:
    conditions = parse_filter(where, attributes)
    chosen = [item for item in items if all(meets(item, c) for c in conditions)]
    versions = attributes == VERSION_ATTRIBUTES
    chosen = sorted(chosen, key=version_tiebreak if versions else run_tiebreak)
    if order is not None:
        chosen = sort_by(chosen, parse_order_by(order, attributes))
    return [item.id for item in chosen]


def run_tiebreak(item: Item) -> tuple[float, str]:
    return (-item.attributes["started_at"].timestamp(), item.id)


def version_tiebreak(item: Item) -> tuple[float, str, int]:
    a = item.attributes
    return (-a["created_at"].timestamp(), a["name"], -a["version"])


def sort_by(items: list[Item], order: OrderBy) -> list[Item]:
    """Present values in order (a stable sort keeps the tiebreak), missing and NaN last."""
    present = [item for item in items if item.get(order.kind, order.key) is not None]
    missing = [item for item in items if item.get(order.kind, order.key) is None]
    present.sort(key=lambda item: item.get(order.kind, order.key), reverse=order.descending)
    return present + missing


# --- the SQL: one statement, or one page planned each way ---------------------------------

PLANS = ("statement", "driven", "walked")
"""``driven``: every condition counts as rare and drives; ``walked``: none does."""


def search(store: Store, plan: str, where: str, order: str | None, *, versions: bool) -> list[str]:
    """Every matching id, in order, by the one statement or by a one-page ``page_*`` call."""
    attributes = VERSION_ATTRIBUTES if versions else RUN_ATTRIBUTES
    conditions = parse_filter(where, attributes)
    order_by = None if order is None else parse_order_by(order, attributes)
    with SessionScope(store.engine, store.url)() as session, pytest.MonkeyPatch.context() as mp:
        if plan == "statement":
            rows = session.scalars(statement(conditions, order_by, versions=versions)).all()
        else:
            mp.setattr(store_search, "SELECTIVE", 10**9 if plan == "driven" else 0)
            page = page_versions if versions else page_runs
            rows = page(session, conditions, order_by, limit=10**6)
        return [row_id(row) for row in rows]


def statement(
    conditions: Sequence[Condition], order_by: OrderBy | None, *, versions: bool
) -> Select[Any]:
    if versions:
        return order_versions(filter_versions(select(ModelVersionRow), conditions), order_by)
    return order_runs(filter_runs(select(RunRow), conditions), order_by)


def row_id(row: RunRow | ModelVersionRow) -> str:
    return f"{row.name}/{row.version}" if isinstance(row, ModelVersionRow) else row.id


def searched_runs(store: Store, where: str, order: str | None = None) -> dict[str, list[str]]:
    return {plan: search(store, plan, where, order, versions=False) for plan in PLANS}


def searched_versions(store: Store, where: str, order: str | None = None) -> dict[str, list[str]]:
    return {plan: search(store, plan, where, order, versions=True) for plan in PLANS}


def each_plan(ids: list[str]) -> dict[str, list[str]]:
    return dict.fromkeys(PLANS, ids)


RUN_FILTERS = [
    "",
    "metrics.auc > 0.5",
    "metrics.auc >= 0.5 and metrics.auc < 0.8",
    "metrics.auc = 0.5",
    "metrics.auc != 0.5",
    "metrics.loss < 1e999",
    "metrics.loss > -1e999",
    "metrics.loss >= 1e999",
    "metrics.loss <= -1e999",
    "metrics.`val loss` <= 0.3",
    "metrics.train/acc > 0.1 and metrics.train/acc <= 0.9",
    "params.C = '1.0'",
    "params.C != '1.0'",
    "params.opt LIKE 'a%'",
    "params.opt LIKE 'a_c'",
    "params.opt LIKE '%*%'",
    "params.opt LIKE '%?'",
    "params.opt LIKE '[%'",
    "params.opt LIKE '%\\\\%'",
    "params.opt LIKE '%'",
    "params.opt ILIKE 'A%'",
    "params.opt ILIKE '%C'",
    "params.opt IN ('abc', \"it's\", 'x*y')",
    "params.model.depth = '10'",
    "tags.team = 'risk'",
    "tags.team ILIKE 'risk'",
    "tags.team IN ('ops', 'growth')",
    "tags.team != 'ops'",
    "tags.note = ''",
    "tags.note LIKE '%1'",
    "status = 'finished'",
    "status IN ('failed', 'crashed')",
    "status != 'running'",
    "name LIKE 'exp%'",
    "name ILIKE 'EXP%'",
    "name LIKE 'exp-_'",
    "user = 'alice'",
    "user != 'alice'",
    "git_commit LIKE 'abc%'",
    "git_branch = 'feature/x'",
    "kind = 'script' and trigger IN ('ci', 'sdk')",
    "started_at >= '2026-03-01T10:00:00Z'",
    "started_at < '2026-03-01 10:30'",
    "started_at > '2026-03-01T12:00:00+02:00'",
    "started_at = '2026-03-01T09:05:00Z'",
    "ended_at > '2026-03-01T10:00:00Z'",
    "ended_at != '2026-03-01T10:00:00Z'",
    "metrics.auc > 0.3 and params.C = '1.0' and tags.team = 'risk'",
    "(metrics.auc > 0.3 and status = 'finished') and user = 'bob'",
    "metrics.auc > 0.3 and metrics.loss < 0.5 and metrics.`val loss` > 0.1",
]


def test_every_run_filter_matches_the_reference(seeded: Seeded) -> None:
    for where in RUN_FILTERS:
        expected = reference(seeded.runs, where, None, RUN_ATTRIBUTES)
        assert searched_runs(seeded.store, where) == each_plan(expected), where


def test_random_run_filters_match_the_reference(seeded: Seeded) -> None:
    rng = random.Random(7)
    for _ in range(60):
        conditions = [random_condition(rng) for _ in range(rng.randrange(1, 4))]
        where = format_filter(conditions)
        expected = reference(seeded.runs, where, None, RUN_ATTRIBUTES)
        assert searched_runs(seeded.store, where) == each_plan(expected), where


def test_a_filter_with_a_run_id_finds_that_run(seeded: Seeded) -> None:
    wanted = seeded.runs[17].id
    assert searched_runs(seeded.store, f"run_id = '{wanted}'") == each_plan([wanted])


def random_condition(rng: random.Random) -> Condition:
    kind: Kind = rng.choice(["metric", "param", "tag", "attribute"])
    if kind == "metric":
        op = rng.choice(["=", "!=", "<", "<=", ">", ">="])
        return Condition(kind, rng.choice(METRIC_KEYS), op, rng.choice([0.0, 0.3, 0.5, 0.9]))
    key = {"param": "opt", "tag": "team", "attribute": "status"}[kind]
    pool = {"param": PARAM_VALUES, "tag": TEAMS, "attribute": STATUSES}[kind]
    op = rng.choice(["=", "!=", "LIKE", "ILIKE", "IN"])
    if op == "IN":
        return Condition(kind, key, op, tuple(rng.sample(pool, 2)))
    value = rng.choice(pool)
    if op in ("LIKE", "ILIKE"):
        value = rng.choice(["%", "_", ""]) + value[1:-1] + rng.choice(["%", "_", ""])
    return Condition(kind, key, op, value)


RUN_ORDERS = [
    None,
    "metrics.auc DESC",
    "metrics.auc",
    "metrics.loss DESC",
    "metrics.loss ASC",
    "metrics.`val loss` desc",
    "params.opt",
    "params.opt DESC",
    "tags.team DESC",
    "tags.note",
    "started_at",
    "started_at DESC",
    "ended_at DESC",
    "name",
    "user DESC",
]


RUN_ORDER_FILTERS = [
    "",
    "status = 'finished'",
    "metrics.loss > 0.2",
    "started_at > '2026-03-01T10:00:00Z' and user != 'alice' and name LIKE 'exp%'",
]


def test_every_run_order_matches_the_reference(seeded: Seeded) -> None:
    for where in RUN_ORDER_FILTERS:
        for order in RUN_ORDERS:
            expected = reference(seeded.runs, where, order, RUN_ATTRIBUTES)
            got = searched_runs(seeded.store, where, order)
            assert got == each_plan(expected), (where, order)


def test_runs_without_the_metric_or_with_nan_come_last_in_both_directions(
    seeded: Seeded,
) -> None:
    for order in ("metrics.auc DESC", "metrics.auc ASC"):
        got = searched_runs(seeded.store, "", order)["statement"]
        values = [by_id(seeded.runs)[run_id].get("metric", "auc") for run_id in got]
        first_missing = values.index(None)
        assert all(v is None for v in values[first_missing:])
        assert all(v is not None for v in values[:first_missing])
        assert math.inf in values
        assert -math.inf in values


PAGED = [
    ("metrics.loss > 0.1", "metrics.auc DESC"),
    ("", "metrics.auc"),
    ("status != 'running'", "params.opt DESC"),
    ("metrics.auc > 0.8 and metrics.auc < 0.9", "tags.team"),
    ("tags.team = 'risk'", None),
    ("", "started_at"),
]


@pytest.mark.parametrize("plan", ["driven", "walked"])
def test_pages_follow_each_other_without_gap_or_overlap(
    seeded: Seeded, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_search, "SELECTIVE", 10**9 if plan == "driven" else 0)
    for where, order in PAGED:
        expected = reference(seeded.runs, where, order, RUN_ATTRIBUTES)
        pages = pages_of_seven(seeded.store, where, order, len(expected))
        assert [run_id for page in pages for run_id in page] == expected, (where, order)
        assert pages[-1] == []
        assert all(len(page) == 7 for page in pages[: len(expected) // 7])


def pages_of_seven(store: Store, where: str, order: str | None, total: int) -> list[list[str]]:
    """Every page of seven, and one more past the end; checks page 2 against the statement."""
    conditions = parse_filter(where, RUN_ATTRIBUTES)
    order_by = None if order is None else parse_order_by(order, RUN_ATTRIBUTES)
    with SessionScope(store.engine, store.url)() as session:
        pages = [
            [row.id for row in page_runs(session, conditions, order_by, limit=7, offset=offset)]
            for offset in range(0, total + 14, 7)
        ]
        one_statement = statement(conditions, order_by, versions=False).offset(7).limit(7)
        assert [row.id for row in session.scalars(one_statement)] == pages[1]
    return pages


def by_id(items: Sequence[Item]) -> dict[str, Item]:
    return {item.id: item for item in items}


# --- model versions ---------------------------------------------------------------------

VERSION_FILTERS = [
    "",
    "name = 'churn'",
    "name LIKE 'churn%'",
    "name ILIKE 'churn%'",
    "version >= 3 and version < 8",
    "version = 2",
    "status IN ('approved', 'candidate')",
    "status != 'archived'",
    "created_at > '2026-03-02T00:00:00Z'",
    "created_by = 'alice'",
    "tags.stage = 'prod'",
    "tags.stage ILIKE 'prod'",
    "tags.owner != 'ops'",
    "metrics.auc > 0.5",
    "metrics.loss >= 1e999",
    "params.C = '1.0'",
    "metrics.auc > 0.2 and tags.stage = 'prod' and name = 'fraud'",
    "created_at >= '2026-03-02' and version > 1 and tags.owner = 'risk'",
]
VERSION_ORDERS = [
    None,
    "metrics.auc DESC",
    "metrics.auc",
    "version",
    "version DESC",
    "name DESC",
    "tags.stage",
    "params.opt DESC",
    "created_at",
    "created_by",
]


def test_every_version_filter_matches_the_reference(seeded: Seeded) -> None:
    for where in VERSION_FILTERS:
        expected = reference(seeded.versions, where, None, VERSION_ATTRIBUTES)
        assert searched_versions(seeded.store, where) == each_plan(expected), where


def test_every_version_order_matches_the_reference(seeded: Seeded) -> None:
    for where in ("", "status != 'archived'", "metrics.auc > 0.3", VERSION_FILTERS[-1]):
        for order in VERSION_ORDERS:
            expected = reference(seeded.versions, where, order, VERSION_ATTRIBUTES)
            got = searched_versions(seeded.store, where, order)
            assert got == each_plan(expected), (where, order)


def test_version_tags_are_the_versions_own_not_the_models(seeded: Seeded) -> None:
    tagged = searched_versions(seeded.store, "tags.stage = 'prod'")["statement"]
    untagged = [v.id for v in seeded.versions if v.tags.get("stage") != "prod"]
    assert tagged
    assert not set(tagged) & set(untagged)


# --- the mapping ------------------------------------------------------------------------


def test_every_attribute_has_a_column() -> None:
    assert set(RUN_COLUMNS) == RUN_ATTRIBUTES
    assert set(VERSION_COLUMNS) == VERSION_ATTRIBUTES


# --- robustness: bounded filters, a time limit, one ILIKE rule ---------------------------


def test_a_filter_past_the_limits_is_a_filter_error_on_every_backend(seeded: Seeded) -> None:
    too_many = " and ".join(f"metrics.m{i} > 0" for i in range(300))

    with pytest.raises(FilterSyntaxError, match=r"more than|longer than"):
        seeded.store.runs.find(where=too_many)
    with pytest.raises(FilterSyntaxError, match=r"more than|longer than"):
        seeded.store.registry.search_versions(where=too_many)


def test_a_search_past_its_time_limit_is_stopped_with_a_clear_error(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(store_url)
    for i in range(40):
        run_id = f"{i:012d}"
        store.runs.create(NewRun(id=run_id, started_at=T0, project="demo", trigger="cli"))
        store.runs.log_metrics(run_id, {f"k{j}": j for j in range(20)})
        store.runs.log_params(run_id, {f"p{j}": "y" for j in range(20)})
    slow = " and ".join(f"metrics.k{j} >= 0 and params.p{j} != 'x'" for j in range(20))
    try:
        monkeypatch.setattr("conveyor.store.engine.SEARCH_TIMEOUT_S", 0.0)
        with pytest.raises(StoreError, match="took longer than 0 s and was stopped") as info:
            store.runs.find(where=slow, order_by="metrics.k0 DESC")
        assert "not reachable" not in str(info.value)

        monkeypatch.undo()  # the stopped search left the store usable
        assert len(store.runs.find(where=slow, limit=50)) == 40
    finally:
        store.close()


ACCENTED = ("Élan", "élan", "ÉLAN", "elan")


def test_ilike_folds_ascii_case_only_the_same_on_every_backend(store_url: str) -> None:
    store = open_store(store_url)
    try:
        for i, text in enumerate(ACCENTED):
            run_id = f"{i:012d}"
            store.runs.create(NewRun(id=run_id, started_at=T0, project="demo", trigger="cli"))
            store.runs.log_params(run_id, {"word": text})

        def words(pattern: str) -> set[str]:
            found = store.runs.find(where=f"params.word ILIKE '{pattern}'")
            return {run.params["word"] for run in found}

        assert words("élan") == {"élan"}
        assert words("Élan") == {"Élan", "ÉLAN"}
        assert words("ELAN") == {"elan"}
        assert words("%LAN") == set(ACCENTED)
    finally:
        store.close()
