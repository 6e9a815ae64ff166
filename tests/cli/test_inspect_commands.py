"""`conveyor init`, `status`, `dag`, `runs`, `show`, `diff`, `logs`: what users read."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml


@pytest.fixture
def project(make_project, py_cmd):
    """A two-stage project in its own git repository, run once and committed."""
    train = py_cmd("""
        import json, yaml
        c = yaml.safe_load(open('params.yaml'))['C']
        open('model.txt', 'w').write(str(c))
        json.dump({'auc': round(0.9 + c / 100, 4), 'loss': 1 - c / 10}, open('metrics.json', 'w'))
        print('training with C =', c)
    """)
    config = {
        "stages": {
            "prep": {"cmd": "mkdir -p data && echo rows > data/rows.txt", "outs": ["data"]},
            "train": {
                "cmd": train,
                "deps": ["data"],
                "params": ["C"],
                "outs": ["model.txt"],
                "metrics": ["metrics.json"],
            },
        }
    }
    root = make_project({"conveyor.yaml": yaml.safe_dump(config), "params.yaml": "C: 1\n"})
    return root


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def commit_all(root, message):
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", message)


def test_init_writes_a_starter_config_that_parses(tmp_path, cli):
    result = cli("init", cwd=tmp_path)

    assert result.exit_code == 0
    assert ".conveyor/" in (tmp_path / ".gitignore").read_text()
    dag = json.loads(cli("dag", "--json", cwd=tmp_path).stdout)
    assert dag["stages"] == ["prepare", "train", "evaluate"]
    again = cli("init", cwd=tmp_path)
    assert again.exit_code == 1
    assert "already exists" in again.stderr


def test_status_names_the_param_that_changed(project, cli):
    assert "never ran" in cli("status", cwd=project).stdout
    cli("run", cwd=project)
    assert cli("status", cwd=project).stdout.strip() == "Everything is up to date."
    (project / "params.yaml").write_text("C: 2\n")

    states = json.loads(cli("status", "--json", cwd=project).stdout)

    assert states == [
        {"stage": "prep", "up_to_date": True, "reasons": []},
        {"stage": "train", "up_to_date": False, "reasons": ["param 'C' changed: 1 -> 2"]},
    ]


def test_status_names_a_modified_out(project, cli):
    cli("run", cwd=project)
    (project / "model.txt").write_text("tampered")

    out = cli("status", cwd=project).stdout

    assert "train: stale" in out
    assert "outs are missing or were modified" in out


def test_dry_run_says_what_would_happen_and_changes_nothing(project, cli):
    cli("run", cwd=project)
    (project / "params.yaml").write_text("C: 3\n")

    out = cli("run", "--dry-run", cwd=project).stdout

    assert "prep" in out
    assert "up to date" in out
    assert "train                would run: param 'C' changed: 1 -> 3" in out
    assert (project / "model.txt").read_text() == "1"


def test_dag_prints_the_graph(project, cli):
    text = cli("dag", cwd=project).stdout
    assert text.splitlines() == ["prep", "└── train"]
    dot = cli("dag", "--dot", cwd=project).stdout
    assert '"prep" -> "train";' in dot


def test_runs_and_show_describe_what_happened(project, cli):
    cli("run", cwd=project)
    (project / "model.txt").unlink()
    cli("run", cwd=project)

    runs = json.loads(cli("runs", "--json", cwd=project).stdout)
    assert [r["status"] for r in runs] == ["success", "success"]
    assert [s["status"] for s in runs[0]["stages"]] == ["unchanged", "cached"]
    assert [s["status"] for s in runs[1]["stages"]] == ["ran", "ran"]
    shown = json.loads(cli("show", runs[1]["id"][:6], "--json", cwd=project).stdout)
    assert shown["params"] == {"C": 1}
    assert shown["metrics"] == {"auc": 0.91, "loss": 0.9}
    train = shown["stages"][1]
    assert train["outs"]["model.txt"]["kind"] == "file"
    assert train["exit_code"] == 0
    human = cli("show", runs[1]["id"], cwd=project).stdout
    assert "auc = 0.91" in human
    assert "model.txt@" in human


def test_runs_filters(project, cli):
    cli("run", cwd=project)
    (project / "params.yaml").write_text("C: bad\n")  # the stage's arithmetic fails
    cli("run", cwd=project)

    failed = json.loads(cli("runs", "--status", "failed", "--json", cwd=project).stdout)
    recent = json.loads(cli("runs", "--since", "1h", "--json", cwd=project).stdout)
    with_prep = json.loads(cli("runs", "--stage", "prep", "--json", cwd=project).stdout)
    one = json.loads(cli("runs", "--limit", "1", "--json", cwd=project).stdout)

    assert len(failed) == 1
    assert failed[0]["status"] == "failed"
    assert len(recent) == 2
    assert len(one) == 1
    assert len(with_prep) == 2
    bad_since = cli("runs", "--since", "yesterday-ish", cwd=project)
    assert bad_since.exit_code == 1
    assert "--since" in bad_since.stderr


def test_show_unknown_run_lists_recent_ones(project, cli):
    cli("run", cwd=project)
    run_id = json.loads(cli("runs", "--json", cwd=project).stdout)[0]["id"]

    result = cli("show", "ffffffffffff", cwd=project)

    assert result.exit_code == 1
    assert "no run with id 'ffffffffffff'" in result.stderr
    assert run_id in result.stderr


def test_logs_print_what_the_stage_wrote(project, cli):
    cli("run", cwd=project)
    run_id = json.loads(cli("runs", "--json", cwd=project).stdout)[0]["id"]

    assert cli("logs", run_id, "train", cwd=project).stdout == "training with C = 1\n"
    missing = cli("logs", run_id, "nope", cwd=project)
    assert missing.exit_code == 1
    assert "its stages: prep, train" in missing.stderr


def test_diff_compares_heads_lock_with_the_latest_run(project, cli):
    git(project, "init", "-q")
    cli("run", cwd=project)
    commit_all(project, "baseline")
    (project / "params.yaml").write_text("C: 5\n")
    cli("run", cwd=project)

    rows = json.loads(cli("diff", "--json", cwd=project).stdout)
    md = cli("diff", "--md", cwd=project).stdout

    by_key = {r["key"]: r for r in rows["rows"]}
    assert rows["old"].startswith("HEAD")
    assert by_key["C"]["old"] == 1
    assert by_key["C"]["new"] == 5
    assert by_key["auc"]["change"] == pytest.approx(0.04)
    assert "| metric | `auc` | 0.91 | 0.95 | +0.04 |" in md


def test_diff_between_two_runs_without_git(project, cli):
    cli("run", cwd=project)
    (project / "params.yaml").write_text("C: 2\n")
    cli("run", cwd=project)
    first, second = reversed(json.loads(cli("runs", "--json", cwd=project).stdout))

    out = cli("diff", first["id"], second["id"], cwd=project).stdout
    default = cli("diff", cwd=project).stdout

    assert "param  C" in out
    assert "-> 2" in out
    assert default == out


def test_runs_where_and_order_by(project, cli):
    for c in (1, 3, 2):
        (project / "params.yaml").write_text(f"C: {c}\n")
        cli("run", cwd=project)

    best = json.loads(
        cli(
            "runs",
            "--where",
            "metrics.auc > 0.915",
            "--order-by",
            "metrics.auc DESC",
            "--json",
            cwd=project,
        ).stdout
    )
    by_param = json.loads(cli("runs", "--where", "params.C = '3'", "--json", cwd=project).stdout)

    assert [r["params"]["C"] for r in best] == [3, 2]
    assert [r["params"]["C"] for r in by_param] == [3]


def test_a_filter_syntax_error_points_at_the_position(project, cli):
    result = cli("runs", "--where", "metrics.auc > 0.9 and params.C", cwd=project)

    assert result.exit_code == 1
    assert "invalid filter at position 31" in result.stderr
    assert result.stderr.splitlines()[2].endswith("^")


@pytest.mark.parametrize("columns", ["80", "60"])
def test_runs_shows_the_metrics_on_a_narrow_terminal(project, cli, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    cli("run", cwd=project)

    every = cli("runs", cwd=project).stdout
    asked = cli("runs", "--metrics", "loss", cwd=project).stdout
    filtered = cli("runs", "--where", "metrics.loss < 1", cwd=project).stdout

    assert all(len(line) <= int(columns) for line in every.splitlines())
    assert "auc=0.91" in every
    assert "loss=0.9" in every
    assert "loss=0.9" in asked
    assert "auc=" not in asked  # only what was asked for
    first = next(line for line in filtered.splitlines() if "=" in line)
    assert "loss=0.9" in first  # a metric the filter names comes first
