"""The model registry on every backend: versions, aliases, statuses, events, URIs."""

from __future__ import annotations

import pytest

from conveyor.context import Context
from conveyor.errors import ConflictError, InvalidValue, NotFoundError
from conveyor.ids import new_id, utcnow
from conveyor.registry import Registry, render_tree
from conveyor.settings import Settings
from conveyor.store import open_store
from conveyor.store.entities import LoggedModel, NewRun, StageRun


@pytest.fixture
def store(store_url):
    opened = open_store(store_url)
    yield opened
    opened.close()


def logged_model(store, name: str = "model", stages: tuple[StageRun, ...] = ()) -> LoggedModel:
    run_id = new_id()
    store.runs.create(
        NewRun(
            id=run_id,
            started_at=utcnow(),
            project="/p",
            trigger="manual",
            git_commit="a" * 40,
            git_dirty=False,
        )
    )
    for stage in stages:
        store.runs.record_stage(run_id, stage)
    store.runs.log_params(run_id, {"C": 1.0})
    model = LoggedModel(
        id=new_id(),
        run_id=run_id,
        name=name,
        flavor="sklearn",
        digest="b" * 64,
        info={"signature": {}},
        created_at=utcnow(),
        stage=stages[-1].stage if stages else None,
    )
    store.models.add_model(model)
    return model


@pytest.fixture
def registry(store):
    return Registry(Context(Settings(user="ana@example.com"), None, store=store))


def test_versions_are_numbered_from_one_and_start_as_candidates(registry, store):
    first = registry.register(logged_model(store).uri, "churn")
    second = registry.register(logged_model(store).run_id, "churn")  # a bare run id works too

    assert (first.version, second.version) == (1, 2)
    assert first.status == "candidate"
    assert store.registry.get_model("churn").latest_version == 2


def test_promote_moves_the_alias_and_keeps_the_previous_holder_in_history(registry, store):
    for _ in range(2):
        registry.register(logged_model(store).uri, "churn")

    assert registry.promote("churn", 1, to="champion") is None
    assert registry.promote("churn", 2, to="champion") == 1

    assert store.registry.get_model("churn").aliases == {"champion": 2}
    assert store.registry.get_version("churn", 2).status == "approved"
    moves = [(e.before, e.after) for e in store.registry.events("churn") if e.kind == "promote"]
    assert moves == [(None, "1"), ("1", "2")]
    assert {e.actor for e in store.registry.events("churn")} == {"ana@example.com"}


def test_uris_resolve_to_the_right_model(registry, store):
    models = [logged_model(store) for _ in range(3)]
    for model in models:
        registry.register(model.uri, "churn")
    registry.set_alias("churn", 2, "challenger")

    assert registry.resolve("models:/churn@challenger").model.id == models[1].id
    assert registry.resolve("models:/churn/1").model.id == models[0].id
    assert registry.resolve("models:/churn").model.id == models[2].id
    assert registry.resolve(f"runs:/{models[0].run_id}/model").version is None


def test_unresolvable_uris_suggest_what_exists(registry, store):
    registry.register(logged_model(store).uri, "churn")
    registry.set_alias("churn", 1, "champion")

    with pytest.raises(NotFoundError) as unknown_model:
        registry.resolve("models:/chrun@champion")
    with pytest.raises(NotFoundError) as unknown_alias:
        registry.resolve("models:/churn@champio")
    with pytest.raises(InvalidValue, match="not a model URI"):
        registry.resolve("s3://bucket/model")

    assert "did you mean 'churn'" in str(unknown_model.value)
    assert "did you mean 'champion'" in str(unknown_alias.value)


def test_status_follows_the_allowed_transitions(registry, store):
    registry.register(logged_model(store).uri, "churn")
    registry.register(logged_model(store).uri, "churn")
    registry.set_status("churn", 1, "rejected")

    with pytest.raises(ConflictError, match="cannot become approved"):
        registry.set_status("churn", 1, "approved")
    with pytest.raises(InvalidValue, match="unknown status"):
        registry.set_status("churn", 1, "shipped")
    registry.promote("churn", 2, to="champion")
    with pytest.raises(ConflictError, match="holds alias"):
        registry.archive("churn", 2)
    registry.archive("churn", 1)
    assert store.registry.get_version("churn", 1).status == "archived"
    with pytest.raises(ConflictError, match="archived"):
        registry.set_alias("churn", 1, "old")


def test_names_and_aliases_are_validated(registry, store):
    model = logged_model(store)
    with pytest.raises(InvalidValue, match="model name"):
        registry.register(model.uri, "bad name")
    registry.register(model.uri, "churn")
    with pytest.raises(InvalidValue, match="reserved"):
        registry.set_alias("churn", 1, "latest")
    with pytest.raises(NotFoundError, match="no version 9"):
        registry.set_alias("churn", 9, "champion")


def test_lineage_goes_from_version_to_run_to_stages_to_data(registry, store):
    prepare = StageRun(
        stage="prepare",
        status="ran",
        key="k1" * 32,
        deps={"raw.csv": {"digest": "1" * 64}},
        outs={"data/clean": {"digest": "2" * 64}},
    )
    train = StageRun(
        stage="train",
        status="ran",
        key="k2" * 32,
        deps={"data/clean/train.csv": {"digest": "3" * 64}},
        outs={"model.skops": {"digest": "4" * 64}},
    )
    registry.register(logged_model(store, stages=(prepare, train)).uri, "churn")

    tree = registry.lineage("churn", 1)
    text = "\n".join(render_tree(tree))

    assert text.splitlines()[0].startswith("churn/1 (candidate) sklearn model")
    assert "git aaaaaaaaaaaa" in text
    assert "stage train (ran" in text
    assert "data/clean/train.csv 333333333333" in text
    assert "stage prepare (ran" in text  # found as the producer of train's dep
    assert "raw.csv 111111111111" in text
    as_json = tree.as_dict()
    assert as_json["kind"] == "model_version"
    assert as_json["from"][0]["kind"] == "run"


def test_the_bare_name_means_the_latest_offered_version(registry, store):
    models = [logged_model(store) for _ in range(3)]
    for model in models:
        registry.register(model.uri, "churn")
    registry.archive("churn", 3)

    assert registry.resolve("models:/churn").version.version == 2
    assert registry.resolve("models:/churn/3").version.version == 3  # still loadable by number


def test_a_bad_alias_changes_nothing(registry, store):
    registry.register(logged_model(store).uri, "churn")

    with pytest.raises(InvalidValue):
        registry.promote("churn", 1, to="2bad")
    with pytest.raises(InvalidValue, match="reserved"):
        registry.promote("churn", 1, to="latest")

    assert store.registry.get_version("churn", 1).status == "candidate"


def test_unknown_model_names_get_suggestions(registry, store):
    registry.register(logged_model(store).uri, "churn")

    with pytest.raises(NotFoundError, match="no registered model named 'chrn'") as caught:
        registry.lineage("chrn", 1)
    with pytest.raises(InvalidValue, match="neither a run id nor a model URI"):
        registry.register("zzz", "churn")
    assert "did you mean 'churn'" in str(caught.value)


def test_deleting_an_alias_must_name_the_version_that_holds_it(registry, store):
    for _ in range(2):
        registry.register(logged_model(store).uri, "churn")
    registry.set_alias("churn", 1, "champion")
    registry.set_alias("churn", 2, "champion")  # moved meanwhile, by someone else

    with pytest.raises(ConflictError, match=r"churn@champion points at v2, not v1"):
        registry.delete_alias("churn", 1, "champion")
    assert store.registry.get_model("churn").aliases == {"champion": 2}

    registry.delete_alias("churn", 2, "champion")
    assert store.registry.get_model("churn").aliases == {}
    removed = store.registry.events("churn")[-1]
    assert (removed.before, removed.after, removed.actor) == ("2", None, "ana@example.com")
    with pytest.raises(NotFoundError, match="has no alias 'champion'"):
        registry.delete_alias("churn", 2, "champion")


def test_every_change_records_the_contexts_principal(store):
    acting = Registry(Context(Settings(user="bo@example.com"), None, store=store))
    acting.register(logged_model(store).uri, "churn")
    acting.set_alias("churn", 1, "champion")
    acting.set_status("churn", 1, "approved")
    acting.set_tags("churn", 1, {"team": "risk"})

    assert {e.actor for e in store.registry.events("churn")} == {"bo@example.com"}
