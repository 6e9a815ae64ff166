"""`conveyor models ...`: register, alias, promote, show, lineage, from the command line."""

from __future__ import annotations

import json

import pytest
import yaml


@pytest.fixture
def trained(make_project, py_cmd, cli):
    """A project whose `train` stage logged a model twice (two runs, two params)."""
    script = py_cmd("""
        import numpy as np, yaml, conveyor as cv
        from sklearn.linear_model import Ridge
        alpha = yaml.safe_load(open("params.yaml"))["alpha"]
        x = np.arange(20.0).reshape(-1, 2)
        cv.log_model(Ridge(alpha=alpha).fit(x, x.sum(axis=1)), "model", input_example=x[:2])
        open("model.txt", "w").write(str(alpha))
    """)
    config = {"stages": {"train": {"cmd": script, "params": ["alpha"], "outs": ["model.txt"]}}}
    root = make_project({"conveyor.yaml": yaml.safe_dump(config), "params.yaml": "alpha: 1\n"})
    assert cli("run", cwd=root).exit_code == 0
    (root / "params.yaml").write_text("alpha: 2\n")
    assert cli("run", cwd=root).exit_code == 0
    return root


def test_register_promote_and_show(trained, cli):
    runs = json.loads(cli("runs", "--json", cwd=trained).stdout)
    first = cli("models", "register", runs[1]["id"], "--name", "ridge", cwd=trained)
    second = cli("models", "register", "latest", "--name", "ridge", "--json", cwd=trained)

    assert first.stdout.strip() == f"registered ridge/1 from run {runs[1]['id']}"
    assert json.loads(second.stdout)["run_id"] == runs[0]["id"]
    assert cli("models", "promote", "ridge", "1", cwd=trained).exit_code == 0
    moved = cli("models", "promote", "ridge", "2", "--to", "champion", cwd=trained)
    assert "previous holder v1 is kept in the history" in moved.stdout

    listed = json.loads(cli("models", "list", "--json", cwd=trained).stdout)
    assert listed == [
        {**listed[0], "name": "ridge", "latest_version": 2, "aliases": {"champion": 2}}
    ]
    shown = json.loads(cli("models", "show", "ridge/2", "--json", cwd=trained).stdout)
    assert shown["status"] == "approved"
    assert shown["flavor"] == "sklearn"
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds == ["registered", "status", "promote"]
    human = cli("models", "show", "ridge/1", cwd=trained).stdout
    assert "promote" in human
    assert "-> 1" in human


def test_errors_name_what_exists(trained, cli):
    cli("models", "register", "latest", "--name", "ridge", cwd=trained)

    typo = cli("models", "show", "ridge/7", cwd=trained)
    bad_alias = cli("models", "alias", "ridge", "1", "latest", cwd=trained)
    unknown = cli("models", "register", "runs:/ffffffffffff/model", "--name", "x", cwd=trained)

    assert typo.exit_code == 1
    assert "model 'ridge' has no version 7" in typo.stderr
    assert "reserved" in bad_alias.stderr
    assert "no run with id 'ffffffffffff'" in unknown.stderr


def test_lineage_prints_the_tree(trained, cli):
    cli("models", "register", "latest", "--name", "ridge", cwd=trained)

    text = cli("models", "lineage", "ridge/1", cwd=trained).stdout

    lines = text.splitlines()
    assert lines[0].startswith("ridge/1 (candidate) sklearn model")
    assert lines[1].startswith("└── run ")
    assert "params: alpha=2" in lines[1]
    assert "stage train (ran" in lines[2]


def test_versions_can_be_searched_by_their_runs_params(trained, cli):
    runs = json.loads(cli("runs", "--json", cwd=trained).stdout)
    cli("models", "register", runs[1]["id"], "--name", "ridge", cwd=trained)
    cli("models", "register", runs[0]["id"], "--name", "ridge", cwd=trained)

    found = json.loads(
        cli("models", "versions", "--where", "params.alpha = '2'", "--json", cwd=trained).stdout
    )

    assert [(v["name"], v["version"]) for v in found] == [("ridge", 2)]


def test_version_tags_can_be_set_and_searched(trained, cli):
    cli("models", "register", "latest", "--name", "ridge", cwd=trained)
    cli("models", "register", "latest", "--name", "ridge", cwd=trained)

    tagged = cli("models", "tag", "ridge", "2", "team=risk", "tier=gold", cwd=trained)
    found = json.loads(
        cli("models", "versions", "--where", "tags.team = 'risk'", "--json", cwd=trained).stdout
    )
    bad = cli("models", "tag", "ridge", "2", "oops", cwd=trained)

    assert tagged.stdout.strip() == "tagged ridge/2: team=risk, tier=gold"
    assert [(v["version"], v["tags"]) for v in found] == [(2, {"team": "risk", "tier": "gold"})]
    assert "is not KEY=VALUE" in bad.stderr


def test_models_list_on_a_named_database_creates_nothing_here(tmp_path, cli, monkeypatch):
    """Resolving the context has no side effect: with CONVEYOR_DB_URL set, a command run
    in an empty directory must not leave a .conveyor/ there."""
    monkeypatch.setenv("CONVEYOR_DB_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    listed = cli("models", "list", cwd=empty)
    traffic = cli("traffic", "show", cwd=empty)
    assert listed.exit_code == 0, listed.output
    assert traffic.exit_code == 0, traffic.output
    assert list(empty.iterdir()) == []
