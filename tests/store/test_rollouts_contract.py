"""The rollout store's contract on every backend: one active rollout per model, status
changes that compare and set, verdicts with their evidence; and a promotion that moves the
alias and the routing table in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from tests.store.test_deployments_contract import ACTOR, register

from conveyor.errors import ConflictError
from conveyor.ids import new_id, utcnow
from conveyor.store import Store, open_store
from conveyor.store.entities import Rollout, RolloutVerdict


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _rollout(model: str = "churn", candidate: int = 2) -> Rollout:
    now = utcnow()
    return Rollout(
        id=new_id(),
        model=model,
        candidate=candidate,
        stable=1,
        strategy="canary",
        steps=(5.0, 25.0, 100.0),
        step=0,
        status="pending",
        options={"interval_s": 120},
        started_by=ACTOR,
        created_at=now,
        updated_at=now,
    )


def test_a_second_active_rollout_of_a_model_names_the_running_one(store: Store) -> None:
    register(store, count=3)
    first = store.rollouts.create(_rollout())

    with pytest.raises(ConflictError, match=f"already has an active rollout: {first.id}"):
        store.rollouts.create(_rollout(candidate=3))

    store.rollouts.update(first.id, ["pending"], {"status": "aborted", "reason": "typo"})
    second = store.rollouts.create(_rollout(candidate=3))
    assert [r.id for r in store.rollouts.active("churn")] == [second.id]
    ended = store.rollouts.get(first.id)
    assert (ended.status, ended.reason, ended.ended_at is not None) == ("aborted", "typo", True)
    assert {r.id for r in store.rollouts.of_model("churn")} == {first.id, second.id}


def test_two_deploys_at_once_start_one_rollout(store: Store) -> None:
    register(store, count=3)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def deploy(candidate: int) -> None:
        barrier.wait()
        try:
            store.rollouts.create(_rollout(candidate=candidate))
            outcomes.append("created")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=deploy, args=(v,)) for v in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["conflict", "created"]
    assert len(store.rollouts.active("churn")) == 1


def test_a_status_change_expects_the_status_it_read(store: Store) -> None:
    register(store, count=2)
    rollout = store.rollouts.create(_rollout())
    store.rollouts.update(rollout.id, ["pending"], {"status": "progressing", "step": 1})

    with pytest.raises(ConflictError, match="is progressing, not pending"):
        store.rollouts.update(rollout.id, ["pending"], {"status": "paused"})
    assert store.rollouts.get(rollout.id).step == 1


def test_verdicts_keep_their_evidence_in_order(store: Store) -> None:
    register(store, count=2)
    rollout = store.rollouts.create(_rollout())
    for step, decision in ((0, "inconclusive"), (0, "pass"), (1, "fail")):
        evidence = {"metrics": [{"metric": "error_rate", "statistic": 0.01 * step}]}
        verdict = RolloutVerdict(rollout.id, step, utcnow(), decision, "why", evidence)
        store.rollouts.add_verdict(verdict)

    found = store.rollouts.verdicts(rollout.id)
    assert [(v.step, v.decision) for v in found] == [(0, "inconclusive"), (0, "pass"), (1, "fail")]
    assert found[2].evidence == {"metrics": [{"metric": "error_rate", "statistic": 0.01}]}


def test_promote_moves_the_alias_and_the_table_together(store: Store) -> None:
    register(store, count=2)
    store.deployments.save("churn", [(1, 95), (2, 5)], [], "X-Key", ACTOR, 0)

    saved = store.deployments.promote("churn", 2, "champion", ACTOR, expected_revision=1)

    assert (saved.routes, saved.sticky, saved.revision) == (((2, 100.0),), "X-Key", 2)
    assert store.registry.alias_version("churn", "champion") == 2
    kinds = [(e.kind, e.actor) for e in store.registry.events("churn")][-2:]
    assert kinds == [("traffic", ACTOR), ("promote", ACTOR)]


def test_a_promotion_on_a_stale_table_moves_neither(store: Store) -> None:
    register(store, count=2)
    store.deployments.save("churn", [(1, 95), (2, 5)], [], None, ACTOR, 0)
    store.registry.set_alias("churn", "champion", 1, ACTOR)

    with pytest.raises(ConflictError, match="changed while this change was being made"):
        store.deployments.promote("churn", 2, "champion", ACTOR, expected_revision=0)

    assert store.registry.alias_version("churn", "champion") == 1
    assert store.deployments.get("churn").routes == ((1, 95.0), (2, 5.0))  # type: ignore[union-attr]


def test_promote_by_alias_leaves_a_table_that_follows_the_alias(store: Store) -> None:
    register(store, count=2)
    store.deployments.save("churn", [(1, 95), (2, 5)], [], None, ACTOR, 0)

    saved = store.deployments.promote("churn", 2, "champion", ACTOR, 1, by_alias=True)

    assert (saved.alias_routes, saved.routes, saved.revision) == ((("champion", 100.0),), (), 2)
    assert store.registry.alias_version("churn", "champion") == 2  # created in the same move
    store.deployments.promote("churn", 1, "champion", ACTOR, 2, "rollback", by_alias=True)
    assert store.deployments.get("churn").alias_routes == (("champion", 100.0),)  # type: ignore[union-attr]
    assert store.registry.alias_version("churn", "champion") == 1
