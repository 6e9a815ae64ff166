"""The deployment store's contract and the traffic service, on every backend.

A change stores the table and its ``traffic`` event in one transaction: a change that
fails leaves neither.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.delivery.deployments import get_table, load_tables
from conveyor.delivery.tables import Route, Shadow
from conveyor.errors import ConflictError, InvalidValue, NotFoundError
from conveyor.ids import new_id, utcnow
from conveyor.registry import Registry
from conveyor.settings import Settings
from conveyor.store import Store, open_store
from conveyor.store.entities import LoggedModel, NewRun

ACTOR = "ana@example.com"


def as_(store: Store, user: str = ACTOR) -> Context:
    """A context acting as ``user`` on ``store``."""
    return Context(Settings(user=user), None, store=store)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def register(store: Store, name: str = "churn", count: int = 1) -> None:
    run_id = new_id()
    store.runs.create(NewRun(id=run_id, started_at=utcnow(), project="/p", trigger="manual"))
    model = LoggedModel(
        id=new_id(),
        run_id=run_id,
        name="model",
        flavor="sklearn",
        digest="b" * 64,
        info={},
        created_at=utcnow(),
    )
    store.models.add_model(model)
    for _ in range(count):
        store.registry.create_version(name, model.id, run_id, ACTOR)


def traffic_events(store: Store, name: str = "churn") -> list[tuple[str | None, str | None]]:
    return [(e.before, e.after) for e in store.registry.events(name) if e.kind == "traffic"]


def test_setting_traffic_stores_revision_one_and_an_event(store: Store) -> None:
    register(store, count=2)

    table = traffic.set_traffic(as_(store), "churn", {2: 10, 1: 90}, sticky="X-Conveyor-Key")

    assert table.routes == (Route(1, 90.0), Route(2, 10.0))
    assert (table.sticky, table.revision) == ("X-Conveyor-Key", 1)
    stored = store.deployments.get("churn")
    assert stored is not None
    assert stored.updated_by == ACTOR
    assert stored.updated_at.tzinfo is not None
    assert traffic_events(store) == [(None, "1=90 2=10 sticky X-Conveyor-Key")]
    assert get_table(store, "churn") == table


def test_each_change_is_the_next_revision_with_from_and_to(store: Store) -> None:
    register(store, count=3)
    traffic.set_traffic(as_(store), "churn", {1: 100})
    traffic.set_traffic(as_(store), "churn", {1: 90, 2: 10})
    traffic.set_shadow(as_(store), "churn", 3, 0.2)
    final = traffic.clear_shadow(as_(store), "churn", 3)

    assert final.revision == 4
    assert final.shadows == ()
    assert traffic_events(store) == [
        (None, "1=100"),
        ("1=100", "1=90 2=10"),
        ("1=90 2=10", "1=90 2=10 shadow 3=0.2"),
        ("1=90 2=10 shadow 3=0.2", "1=90 2=10"),
    ]
    assert [
        e.details["revision"] for e in store.registry.events("churn") if e.kind == "traffic"
    ] == [
        1,
        2,
        3,
        4,
    ]


def test_set_traffic_keeps_shadows_and_sticky_unless_told(store: Store) -> None:
    register(store, count=3)
    traffic.set_traffic(as_(store), "churn", {1: 1}, sticky="field:user_id")
    traffic.set_shadow(as_(store), "churn", 3, 0.5)

    kept = traffic.set_traffic(as_(store), "churn", {1: 1, 2: 1})
    cleared = traffic.set_traffic(as_(store), "churn", {2: 1}, sticky="none")

    assert (kept.sticky, kept.shadows) == ("field:user_id", (Shadow(3, 0.5),))
    assert cleared.sticky is None


def test_unknown_models_and_versions_name_what_exists(store: Store) -> None:
    register(store, count=2)

    with pytest.raises(NotFoundError, match="no registered model named 'chrun'") as typo:
        traffic.set_traffic(as_(store), "chrun", {1: 1})
    with pytest.raises(NotFoundError, match=r"has no version 5, 7 \(its versions: 1, 2\)"):
        traffic.set_traffic(as_(store), "churn", {1: 1, 5: 1, 7: 1})
    with pytest.raises(NotFoundError, match="has no routing table yet"):
        traffic.set_shadow(as_(store), "churn", 2, 0.1)

    assert "did you mean 'churn'" in str(typo.value)
    assert store.deployments.get("churn") is None


def test_archived_and_rejected_versions_cannot_receive_traffic(store: Store) -> None:
    register(store, count=3)
    registry = Registry(as_(store))
    registry.archive("churn", 2)
    registry.set_status("churn", 3, "rejected")

    with pytest.raises(ConflictError, match="churn/2 is archived, churn/3 is rejected"):
        traffic.set_traffic(as_(store), "churn", {1: 1, 2: 1, 3: 1})
    traffic.set_traffic(as_(store), "churn", {1: 1})
    with pytest.raises(ConflictError, match="churn/2 is archived"):
        traffic.set_shadow(as_(store), "churn", 2, 0.1)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({1: 0, 2: 0}, "every weight is 0"),
        ({1: -1}, "weights must be numbers >= 0"),
        ({1: float("inf")}, "weights must be numbers >= 0"),
    ],
)
def test_invalid_weights_store_nothing(store: Store, weights, message) -> None:
    register(store, count=2)

    with pytest.raises(InvalidValue, match=message):
        traffic.set_traffic(as_(store), "churn", weights)

    assert store.deployments.get("churn") is None
    assert traffic_events(store) == []


def test_a_version_cannot_be_both_route_and_shadow(store: Store) -> None:
    register(store, count=2)
    traffic.set_traffic(as_(store), "churn", {1: 1})
    traffic.set_shadow(as_(store), "churn", 2, 0.1)

    with pytest.raises(InvalidValue, match="version 2 is both a route and a shadow"):
        traffic.set_traffic(as_(store), "churn", {1: 1, 2: 1})
    with pytest.raises(InvalidValue, match="version 1 is both a route and a shadow"):
        traffic.set_shadow(as_(store), "churn", 1, 0.1)
    with pytest.raises(
        NotFoundError, match=r"version 1 is not a shadow of 'churn' \(its shadows: 2\)"
    ):
        traffic.clear_shadow(as_(store), "churn", 1)


def test_a_failing_change_leaves_neither_the_table_nor_an_event(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(store, count=2)
    traffic.set_traffic(as_(store), "churn", {1: 1})

    def broken(*args: object) -> object:
        raise RuntimeError("disk full")

    monkeypatch.setattr("conveyor.store.deployments._traffic_event", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        traffic.set_traffic(as_(store), "churn", {1: 1, 2: 1})

    table = get_table(store, "churn")
    assert table is not None
    assert (table.routes, table.revision) == ((Route(1, 1.0),), 1)
    assert traffic_events(store) == [(None, "1=1")]


def test_a_stale_revision_is_a_conflict_and_changes_nothing(store: Store) -> None:
    register(store, count=2)
    traffic.set_traffic(as_(store), "churn", {1: 1})
    traffic.set_traffic(as_(store, "bo"), "churn", {2: 1})

    with pytest.raises(ConflictError, match=r"revision 1 was read, 2 is stored .*by bo"):
        store.deployments.save("churn", [(1, 1.0)], [], None, ACTOR, expected_revision=1)
    with pytest.raises(ConflictError, match="revision 0 was read"):
        store.deployments.save("churn", [(1, 1.0)], [], None, ACTOR, expected_revision=0)

    assert store.deployments.revisions() == {"churn": 2}
    assert len(traffic_events(store)) == 2


def test_load_tables_reads_only_the_tables_that_changed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(store, "churn", count=2)
    register(store, "fraud", count=1)
    traffic.set_traffic(as_(store), "churn", {1: 1})
    traffic.set_traffic(as_(store), "fraud", {1: 1})

    known = {t.model: t.revision for t in load_tables(store, {})}
    assert sorted(known) == ["churn", "fraud"]
    assert load_tables(store, known) == []
    traffic.set_traffic(as_(store), "churn", {2: 1})
    loaded: list[str] = []
    real_get = store.deployments.get
    monkeypatch.setattr(
        store.deployments, "get", lambda name: loaded.append(name) or real_get(name)
    )

    changed = load_tables(store, known)
    assert [(t.model, t.routes) for t in changed] == [("churn", (Route(2, 1.0),))]
    assert loaded == ["churn"]
    assert [t.model for t in load_tables(store)] == ["churn", "fraud"]


def test_parse_weights_names_the_bad_pair() -> None:
    assert traffic.parse_weights(["3=90", "4=10.5"]) == {3: 90.0, 4: 10.5}
    with pytest.raises(InvalidValue, match="weight 'abc' in '3=abc' is not a number"):
        traffic.parse_weights(["3=abc"])
    assert traffic.parse_weights(["champion=9", "3=1"]) == {"champion": 9.0, 3: 1.0}
    with pytest.raises(InvalidValue, match="'3' is not VERSION=WEIGHT or ALIAS=WEIGHT"):
        traffic.parse_weights(["3"])
    with pytest.raises(InvalidValue, match="'-x=1' is not VERSION=WEIGHT or ALIAS=WEIGHT"):
        traffic.parse_weights(["-x=1"])
    with pytest.raises(InvalidValue, match="alias champion is given twice"):
        traffic.parse_weights(["champion=1", "champion=2"])
    with pytest.raises(InvalidValue, match="version 3 is given twice"):
        traffic.parse_weights(["3=1", "3=2"])
