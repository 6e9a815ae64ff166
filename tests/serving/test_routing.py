"""Routing: tables are validated, sticky keys split by weight and stay put, shadows by share.

Tolerances come from the binomial standard error. With N keys and a version whose
normalised weight is p, the share of keys it gets has standard error sqrt(p(1-p)/N) <=
0.5/sqrt(N). We allow 5 standard errors at the worst case p = 0.5 (TOLERANCE below): a
correct router fails one check with probability ~6e-7, and the hashes are deterministic,
so a passing example passes on every run.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import conveyor
from conveyor.delivery.tables import Route, RoutingTable, Shadow
from conveyor.errors import ConflictError, InvalidValue, NotFoundError
from conveyor.serving.keys import field_value, header, sticky_key
from conveyor.serving.routing import Router, choose, shadows_for

SOURCE = str(Path(conveyor.__file__).parents[1])

N_KEYS = 4000
TOLERANCE = 5 * 0.5 / math.sqrt(N_KEYS)  # 5 binomial standard errors at p = 0.5: 0.0395
KEYS = [f"user-{i}" for i in range(N_KEYS)]

weights_strategy = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5).filter(
    lambda ws: any(ws)
)


def table_of(weights: list[int], model: str = "churn", **extra: object) -> RoutingTable:
    routes = tuple(Route(version, w) for version, w in enumerate(weights, start=1))
    return RoutingTable(model, routes, **extra)  # type: ignore[arg-type]


def assignment(table: RoutingTable) -> dict[str, int]:
    return {key: choose(table, key) for key in KEYS}


# --- tables ------------------------------------------------------------------------------


def test_a_table_sorts_its_routes_and_normalises_the_weights() -> None:
    table = RoutingTable("churn", (Route(4, 1), Route(3, 3)), (Shadow(5, 0.2),), "X-Key", 7)

    assert [r.version for r in table.routes] == [3, 4]
    assert table.share(3) == 0.75
    assert table.share(4) == 0.25
    assert table.share(5) == 0.0
    assert table.versions() == (3, 4, 5)


@pytest.mark.parametrize(
    ("routes", "shadows", "sticky", "message"),
    [
        ((), (), None, "has no routes"),
        ((Route(3, -1),), (), None, "weight of version 3 is -1"),
        ((Route(3, math.nan),), (), None, "weights must be finite numbers >= 0"),
        ((Route(3, 0), Route(4, 0)), (), None, "every weight is 0"),
        ((Route(3, 1), Route(3, 2)), (), None, "route version(s) 3 given more than once"),
        ((Route(0, 1),), (), None, "version 0 is not a version number"),
        ((Route(3, 1),), (Shadow(4, 0),), None, "shadow share of version 4 is 0"),
        ((Route(3, 1),), (Shadow(4, 1.5),), None, "it must be in (0, 1]"),
        ((Route(3, 1),), (Shadow(3, 0.5),), None, "version 3 is both a route and a shadow"),
        ((Route(3, 1),), (Shadow(4, 0.1), Shadow(4, 0.2)), None, "shadow version(s) 4"),
        ((Route(3, 1),), (), "field:", "neither a header name nor field:NAME"),
        ((Route(3, 1),), (), "X Key", "neither a header name nor field:NAME"),
    ],
)
def test_invalid_tables_are_refused_with_what_is_wrong(routes, shadows, sticky, message) -> None:
    with pytest.raises(InvalidValue) as caught:
        RoutingTable("churn", routes, shadows, sticky)

    assert message in str(caught.value)
    assert "'churn'" in str(caught.value) or "sticky" in str(caught.value)


# --- choosing ------------------------------------------------------------------------------


def test_a_forced_version_wins_over_the_key_and_may_be_a_shadow() -> None:
    table = table_of([100, 0], shadows=(Shadow(9, 0.1),))

    assert choose(table, "user-1", forced=2) == 2
    assert choose(table, None, forced=9) == 9
    with pytest.raises(
        NotFoundError, match=r"version 7 of 'churn' is not .* \(versions: 1, 2, 9\)"
    ):
        choose(table, None, forced=7)


def test_a_version_with_weight_zero_gets_no_keys_and_no_draws() -> None:
    table = table_of([0, 5, 0])
    rng = random.Random(1)

    assert set(assignment(table).values()) == {2}
    assert {choose(table, rng=rng) for _ in range(500)} == {2}


def test_sticky_assignment_is_the_same_in_another_process_with_another_hash_seed() -> None:
    table = table_of([50, 30, 20])
    code = (
        "import json; from conveyor.delivery.tables import Route, RoutingTable;"
        "from conveyor.serving.routing import choose;"
        "t = RoutingTable('churn', (Route(1, 50), Route(2, 30), Route(3, 20)));"
        "print(json.dumps([choose(t, f'user-{i}') for i in range(200)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        # the conveyor under test, wherever the interpreter's own install points
        env={"PYTHONHASHSEED": "12345", "PATH": "", "PYTHONPATH": SOURCE},
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert json.loads(out) == [choose(table, f"user-{i}") for i in range(200)]


def test_the_model_name_is_part_of_the_hash() -> None:
    first = assignment(table_of([1, 1], model="churn"))
    second = assignment(table_of([1, 1], model="fraud"))

    assert first != second


@settings(max_examples=30)
@given(weights=weights_strategy)
def test_keys_split_in_proportion_to_the_weights(weights: list[int]) -> None:
    table = table_of(weights)
    counts = {r.version: 0 for r in table.routes}
    for version in assignment(table).values():
        counts[version] += 1

    for version, count in counts.items():
        assert abs(count / N_KEYS - table.share(version)) < TOLERANCE, (version, counts)


@settings(max_examples=30)
@given(weights=weights_strategy, seed=st.integers(0, 2**32 - 1))
def test_random_draws_follow_the_weights(weights: list[int], seed: int) -> None:
    table = table_of(weights)
    rng = random.Random(seed)
    draws = [choose(table, rng=rng) for _ in range(N_KEYS)]

    for route in table.routes:
        assert abs(draws.count(route.version) / N_KEYS - table.share(route.version)) < TOLERANCE


@settings(max_examples=30)
@given(weights=weights_strategy, key=st.text(max_size=20))
def test_the_same_key_always_gets_the_same_version(weights: list[int], key: str) -> None:
    table = table_of(weights)

    assert len({choose(table, key) for _ in range(5)}) == 1
    assert choose(table_of(weights, revision=9), key) == choose(table, key)


@settings(max_examples=30)
@given(
    weights=weights_strategy,
    data=st.data(),
    extra=st.integers(min_value=1, max_value=200),
)
def test_adding_weight_to_a_version_only_moves_keys_onto_it(
    weights: list[int], data: st.DataObject, extra: int
) -> None:
    target = data.draw(st.integers(min_value=1, max_value=len(weights)), label="version")
    before = assignment(table_of(weights))
    raised = [w + extra if v == target else w for v, w in enumerate(weights, start=1)]
    after = assignment(table_of(raised))

    moved = {key for key in KEYS if before[key] != after[key]}
    assert all(after[key] == target for key in moved)
    # and about as many moved as the target's share grew (within the tolerance)
    share_before = table_of(weights).share(target)
    share_after = table_of(raised).share(target)
    assert abs(len(moved) / N_KEYS - (share_after - share_before)) < TOLERANCE


@settings(max_examples=30)
@given(weights=weights_strategy.filter(lambda ws: len(ws) > 1), data=st.data())
def test_removing_a_version_moves_only_its_keys(weights: list[int], data: st.DataObject) -> None:
    target = data.draw(st.integers(min_value=1, max_value=len(weights)), label="version")
    lowered = [0 if v == target else w for v, w in enumerate(weights, start=1)]
    if not any(lowered):
        return
    before = assignment(table_of(weights))
    after = assignment(table_of(lowered))

    assert all(before[key] == target for key in KEYS if before[key] != after[key])


# --- shadows -----------------------------------------------------------------------------


@settings(max_examples=30)
@given(shares=st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=1, max_size=3))
def test_each_shadow_gets_its_share_of_requests(shares: list[float]) -> None:
    shadows = tuple(Shadow(10 + i, share) for i, share in enumerate(shares))
    table = table_of([1], shadows=shadows)
    copies = [shadows_for(table, f"req-{i}") for i in range(N_KEYS)]

    for shadow in shadows:
        got = sum(shadow.version in c for c in copies) / N_KEYS
        assert abs(got - shadow.share) < TOLERANCE, (shadow, got)


def test_shadows_are_deterministic_per_request_and_share_one_gets_everything() -> None:
    table = table_of([1], shadows=(Shadow(5, 1.0), Shadow(6, 0.3)))

    assert all(5 in shadows_for(table, f"req-{i}") for i in range(500))
    assert shadows_for(table, "req-7") == shadows_for(table, "req-7")
    assert shadows_for(table_of([1]), "req-7") == []


# --- request keys ------------------------------------------------------------------------


def test_headers_are_matched_case_insensitively() -> None:
    assert header({"x-conveyor-key": "a"}, "X-Conveyor-Key") == "a"
    assert header({"X-CONVEYOR-KEY": "b"}, "X-Conveyor-Key") == "b"
    assert header({}, "X-Conveyor-Key") is None


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 42},
        {"instances": [{"user_id": 42, "age": 3}]},
        {"dataframe_records": [{"user_id": 42}]},
        {"dataframe_split": {"columns": ["age", "user_id"], "data": [[3, 42]]}},
        {"inputs": [{"name": "age", "data": [3]}, {"name": "user_id", "data": [[42, 43]]}]},
        {"inputs": {"user_id": [42, 43]}},
        b'{"instances": [{"user_id": 42}]}',
        '{"user_id": 42}',
    ],
)
def test_a_field_key_is_found_in_every_request_format(body: object) -> None:
    assert sticky_key("field:user_id", {}, body) == "42"


@pytest.mark.parametrize("body", [{"age": 3}, b"not json", None, [1, 2], {"instances": []}])
def test_a_missing_field_gives_no_key(body: object) -> None:
    assert sticky_key("field:user_id", {}, body) is None
    assert field_value(body, "user_id") is None


# --- the router --------------------------------------------------------------------------


def test_the_router_reads_the_forcing_header_and_the_sticky_key() -> None:
    router = Router([table_of([50, 50], sticky="X-Conveyor-Key")])
    table = router.table("churn")

    assert router.choose("churn", {"x-conveyor-version": " 2 "}, None) == 2
    for key in KEYS[:50]:
        assert router.choose("churn", {"X-Conveyor-Key": key}, None) == choose(table, key)
    with pytest.raises(InvalidValue, match=r"X-Conveyor-Version header .* is 'two'"):
        router.choose("churn", {"X-Conveyor-Version": "two"}, None)


def test_the_router_can_key_on_an_input_field() -> None:
    router = Router([table_of([50, 50], sticky="field:user_id")])
    table = router.table("churn")
    body = {"instances": [{"user_id": "u-7"}]}

    assert router.choose("churn", {}, body) == choose(table, "u-7")


def test_an_unknown_model_names_the_routed_ones() -> None:
    router = Router([table_of([1])])

    with pytest.raises(NotFoundError, match=r"'fraud' has no routing table \(routed models: churn"):
        router.choose("fraud", {}, None)
    with pytest.raises(NotFoundError):
        router.shadows("fraud", "req-1")


def test_update_replaces_the_table_and_refuses_an_older_revision() -> None:
    router = Router([table_of([1], revision=2)])
    router.update(table_of([0, 1], revision=3))

    assert router.choose("churn", {}, None) == 2
    assert router.revisions() == {"churn": 3}
    with pytest.raises(ConflictError, match="revision 2 is older than the one in use \\(3\\)"):
        router.update(table_of([1], revision=2))
    assert router.tables()["churn"].revision == 3


def test_requests_during_swaps_always_see_a_whole_table() -> None:
    router = Router([table_of([1, 0], revision=1)])
    seen: set[int] = set()
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            seen.add(router.choose("churn", {}, None))

    worker = threading.Thread(target=ask)
    worker.start()
    for revision in range(2, 400):
        weights = [1, 0] if revision % 2 else [0, 1]
        router.update(table_of(weights, revision=revision))
    stop.set()
    worker.join()

    assert seen <= {1, 2}
    assert router.revisions() == {"churn": 399}


def test_router_shadows_use_the_current_table() -> None:
    router = Router([table_of([1], shadows=(Shadow(5, 1.0),))])

    assert router.shadows("churn", "req-1") == [5]
