"""A rollout ends on a table named as it was before: a version-named table (``1=100``) ends
on ``2=100`` or ``1=100``; an alias-named one (``champion=90 challenger=10``) ends on
``champion=100``, @champion moved in the same transaction, so the table goes on following
the alias. Through promotion, rollback by the controller, and ``conveyor rollback``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.delivery.test_rollout_controller import T0, Clock, _windows
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.delivery.deployments import get_table
from conveyor.delivery.rollout import service
from conveyor.delivery.rollout.controller import Controller
from conveyor.store.entities import Deployment

POLICY = DeployConfig(steps=[5, 100], interval="60s", pretraffic=False)


def _named(ctx: Context, naming: str) -> None:
    """The table before the rollout: by version, or by alias (v2 is the challenger)."""
    if naming == "alias":
        ctx.store.registry.set_alias("churn", "challenger", 2, "ana@example.com")
        traffic.set_traffic(ctx, "churn", {"champion": 90, "challenger": 10})


def _stored(ctx: Context) -> Deployment:
    found = ctx.store.deployments.get("churn")
    assert found is not None
    return found


def _expect(ctx: Context, naming: str, serving: int) -> None:
    """All traffic to ``serving``, which @champion names; the table named as before."""
    stored = _stored(ctx)
    if naming == "alias":
        assert (stored.alias_routes, stored.routes) == ((("champion", 100.0),), ())
    else:
        assert (stored.alias_routes, stored.routes) == ((), ((serving, 100.0),))
    assert ctx.store.registry.alias_version("churn", "champion") == serving
    table = get_table(ctx.store, "churn")
    assert table is not None
    assert table.share(serving) == 1.0


@pytest.mark.parametrize("naming", ["version", "alias"])
def test_a_promotion_keeps_the_tables_naming(ctx: Context, naming: str) -> None:
    _named(ctx, naming)
    rollout = service.deploy(ctx, "churn", 2, POLICY)
    clock = Clock()
    controller = Controller(ctx, clock=clock)
    controller.tick()
    assert _stored(ctx).routes == ((1, 95.0), (2, 5.0))  # steps name versions

    _windows(ctx.store, T0, 12, {2: (200, 2), 1: (3800, 38)})
    clock.now = T0 + timedelta(seconds=130)
    controller.tick()

    assert ctx.store.rollouts.get(rollout.id).status == "promoted"
    _expect(ctx, naming, serving=2)
    service.rollback(ctx, "churn", reason="p99 doubled")  # by hand, after the rollout
    _expect(ctx, naming, serving=1)


@pytest.mark.parametrize("naming", ["version", "alias"])
def test_a_rollback_keeps_the_tables_naming(ctx: Context, naming: str) -> None:
    _named(ctx, naming)
    rollout = service.deploy(ctx, "churn", 2, POLICY)
    clock = Clock()
    controller = Controller(ctx, clock=clock)
    controller.tick()

    _windows(ctx.store, T0, 6, {2: (200, 20), 1: (3800, 38)})  # 10% errors against 1%
    clock.now = T0 + timedelta(seconds=70)
    controller.tick()

    assert ctx.store.rollouts.get(rollout.id).status == "rolled_back"
    _expect(ctx, naming, serving=1)


@pytest.mark.parametrize("naming", ["version", "alias"])
def test_rollback_by_hand_during_a_rollout_keeps_the_tables_naming(
    ctx: Context, naming: str
) -> None:
    _named(ctx, naming)
    rollout = service.deploy(ctx, "churn", 2, POLICY)
    Controller(ctx, clock=Clock()).tick()

    assert service.rollback(ctx, "churn", reason="pager") == 1

    assert ctx.store.rollouts.get(rollout.id).status == "rolled_back"
    _expect(ctx, naming, serving=1)
