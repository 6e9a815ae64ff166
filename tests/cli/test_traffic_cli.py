"""`conveyor traffic ...`: set weights, shadows and sticky keys, show them, refuse bad input."""

from __future__ import annotations

import json

import pytest

from conveyor.ids import new_id, utcnow
from conveyor.store import open_store
from conveyor.store.entities import LoggedModel, NewRun


@pytest.fixture
def project(make_project, monkeypatch):
    """A project whose store holds model 'churn' with versions 1-5 (5 archived)."""
    monkeypatch.setenv("CONVEYOR_USER", "ana@example.com")
    root = make_project({"conveyor.yaml": "stages:\n  noop:\n    cmd: 'true'\n"})
    (root / ".conveyor").mkdir()
    store = open_store(f"sqlite:///{root / '.conveyor' / 'conveyor.db'}")
    try:
        run_id = new_id()
        store.runs.create(NewRun(id=run_id, started_at=utcnow(), project=str(root), trigger="cli"))
        model_id = new_id()
        store.models.add_model(
            LoggedModel(model_id, run_id, "model", "sklearn", "b" * 64, {}, utcnow())
        )
        for _ in range(5):
            store.registry.create_version("churn", model_id, run_id, "ana@example.com")
        store.registry.set_status("churn", 5, "archived", "ana@example.com")
    finally:
        store.close()
    return root


def test_set_shadow_show_and_history(project, cli):
    set_ = cli("traffic", "set", "churn", "3=90", "4=10", "--sticky", "X-Conveyor-Key", cwd=project)
    shadow = cli("traffic", "shadow", "churn", "2", "--share", "0.2", cwd=project)

    assert set_.exit_code == 0, set_.output
    assert set_.stdout.strip() == "churn revision 1: v3=90.0% v4=10.0%"
    assert shadow.stdout.strip() == "churn revision 2: v2 shadows 20% of requests"

    shown = json.loads(cli("traffic", "show", "--json", cwd=project).stdout)
    assert shown == [
        {
            **shown[0],
            "model": "churn",
            "revision": 2,
            "routes": [
                {"version": 3, "weight": 90.0, "share": 0.9, "aliases": []},
                {"version": 4, "weight": 10.0, "share": 0.1, "aliases": []},
            ],
            "alias_routes": [],
            "shadows": [{"version": 2, "share": 0.2}],
            "sticky": "X-Conveyor-Key",
            "updated_by": "ana@example.com",
        }
    ]
    human = cli("traffic", "show", "churn", cwd=project).stdout
    assert "churn  revision 2  sticky X-Conveyor-Key" in human
    assert "v3       90.0%  weight 90" in human
    assert "v2     shadow 20% of requests" in human

    off = cli("traffic", "shadow", "churn", "2", "--off", cwd=project)
    assert off.stdout.strip() == "churn revision 3: v2 no longer shadows"
    lines = cli("traffic", "history", "churn", cwd=project).stdout.splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "r1  - -> 3=90 4=10 sticky X-Conveyor-Key  by ana@example.com",
        "r2  3=90 4=10 sticky X-Conveyor-Key -> 3=90 4=10 shadow 2=0.2 sticky X-Conveyor-Key"
        "  by ana@example.com",
        "r3  3=90 4=10 shadow 2=0.2 sticky X-Conveyor-Key -> 3=90 4=10 sticky X-Conveyor-Key"
        "  by ana@example.com",
    ]


def test_routes_by_alias_follow_the_alias_without_a_new_revision(project, cli):
    cli("models", "alias", "churn", "3", "champion", cwd=project)
    cli("models", "alias", "churn", "4", "challenger", cwd=project)

    set_ = cli("traffic", "set", "churn", "champion=90", "challenger=10", cwd=project)

    assert set_.exit_code == 0, set_.output
    assert set_.stdout.strip() == "churn revision 1: @champion->v3=90.0% @challenger->v4=10.0%"
    human = cli("traffic", "show", "churn", cwd=project).stdout
    assert "v3       90.0%  weight 90  via @champion" in human
    assert "v4       10.0%  weight 10  via @challenger" in human

    moved = cli("models", "alias", "churn", "2", "champion", cwd=project)
    assert moved.exit_code == 0, moved.output
    shown = json.loads(cli("traffic", "show", "churn", "--json", cwd=project).stdout)[0]
    assert shown["revision"] == 1  # the table did not change; the alias did
    assert shown["alias_routes"] == [
        {"alias": "challenger", "weight": 10.0},
        {"alias": "champion", "weight": 90.0},
    ]
    assert [(r["version"], r["share"], r["aliases"]) for r in shown["routes"]] == [
        (2, 0.9, ["champion"]),
        (4, 0.1, ["challenger"]),
    ]
    lines = cli("traffic", "history", "churn", cwd=project).stdout
    assert "- -> challenger=10 champion=90  by ana@example.com" in lines


def test_mixed_routes_resolving_to_one_version_add_their_weights(project, cli):
    cli("models", "alias", "churn", "3", "champion", cwd=project)

    set_ = cli("traffic", "set", "churn", "champion=90", "3=5", "4=5", cwd=project)

    assert set_.exit_code == 0, set_.output
    assert set_.stdout.strip() == "churn revision 1: @champion->v3=95.0% v4=5.0%"


def test_an_unknown_alias_is_refused_naming_the_aliases_that_exist(project, cli):
    cli("models", "alias", "churn", "3", "champion", cwd=project)

    result = cli("traffic", "set", "churn", "champion=90", "canary=10", cwd=project)

    assert result.exit_code == 1
    assert "model 'churn' has no alias canary (its aliases: champion)" in result.stderr
    assert cli("traffic", "show", "churn", "--json", cwd=project).stdout.strip() == "[]"


def test_show_without_tables_says_how_to_set_one(project, cli):
    shown = cli("traffic", "show", cwd=project)

    assert shown.exit_code == 0
    assert "No routing tables yet" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "churn", "3=abc"], "weight 'abc' in '3=abc' is not a number"),
        (["set", "churn", "no way=1"], "'no way=1' is not VERSION=WEIGHT or ALIAS=WEIGHT"),
        (["set", "churn", "3=-1"], "weight of churn/3 is -1.0; weights must be numbers >= 0"),
        (["set", "churn", "3=0", "4=0"], "every weight is 0"),
        (["set", "chrun", "3=1"], "no registered model named 'chrun'"),
        (["set", "churn", "9=1"], "has no version 9 (its versions: 1, 2, 3, 4, 5)"),
        (["set", "churn", "5=1"], "churn/5 is archived"),
        (["set", "churn", "3=1", "--sticky", "field:"], "neither a header name nor field:NAME"),
        (["shadow", "churn", "2", "--share", "0.5"], "has no routing table yet"),
        (["show", "chrun"], "no registered model named 'chrun'"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_1(project, cli, args, message):
    result = cli("traffic", *args, cwd=project)

    assert result.exit_code == 1, result.output
    assert message in result.stderr


def test_a_version_cannot_be_route_and_shadow(project, cli):
    cli("traffic", "set", "churn", "3=1", cwd=project)
    cli("traffic", "shadow", "churn", "4", "--share", "0.1", cwd=project)

    result = cli("traffic", "set", "churn", "3=1", "4=1", cwd=project)

    assert result.exit_code == 1
    assert "version 4 is both a route and a shadow" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["shadow", "churn", "2"],
        ["shadow", "churn", "2", "--share", "0.5", "--off"],
        ["shadow", "churn", "2", "--share", "1.5"],
        ["set", "churn"],
    ],
)
def test_usage_errors_exit_2(project, cli, args):
    assert cli("traffic", *args, cwd=project).exit_code == 2
