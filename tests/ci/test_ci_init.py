"""``conveyor ci init``: the workflow files parse, say what they should, and call real commands.

The pull-request comment and merge-request note scripts are run for real, with stand-ins for
``gh`` and ``glab`` on ``PATH`` that record each API call.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import click
import pytest
import typer
import yaml

from conveyor.ci import write_workflows
from conveyor.ci.init import _LAYOUT, render, template_values
from conveyor.cli.main import app
from conveyor.errors import ConflictError, InvalidValue

MARKER = "<!-- conveyor-report -->"
REPO = Path(__file__).resolve().parents[2]
FILES = {platform: [dest for _, dest in layout] for platform, layout in _LAYOUT.items()}
CONFIG = """\
stages:
  train:
    cmd: echo trained > model.txt
    outs: [model.txt]
evaluation:
  data: holdout.csv
  target: y
  name: churn
"""


def make_repo(make_project, config: str = CONFIG, subdir: str = "") -> Path:
    """A git work tree (a bare ``.git`` is enough) with ``conveyor.yaml`` in ``subdir``."""
    prefix = f"{subdir}/" if subdir else ""
    return make_project({".git/HEAD": "ref: refs/heads/main\n", f"{prefix}conveyor.yaml": config})


def init(cli, root: Path, platform: str, *args: str) -> dict[str, Any]:
    """Run ``conveyor ci init`` in ``root``; return each written file's parsed YAML by path."""
    result = cli("ci", "init", platform, *args, cwd=root)
    assert result.exit_code == 0, result.output
    for rel in FILES[platform]:
        assert f"wrote {rel}" in result.stdout
    return {
        rel: yaml.safe_load((root / rel).read_text(encoding="utf-8")) for rel in FILES[platform]
    }


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """A GitHub workflow's ``on:`` (YAML 1.1 reads the bare key ``on`` as True)."""
    return workflow.get("on", workflow.get(True))


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("name") == name)


def uses(job: dict[str, Any], action: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("uses", "").startswith(action + "@"))


# -- shell scripts and the conveyor commands in them ------------------------------------


def github_scripts(workflow: dict[str, Any]) -> list[str]:
    return [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]


def gitlab_scripts(config: dict[str, Any]) -> list[str]:
    scripts = []
    for job in config.values():
        if isinstance(job, dict):
            scripts += [line for key in ("before_script", "script") for line in job.get(key, [])]
    return scripts


def all_scripts(platform: str, files: dict[str, Any]) -> list[str]:
    pick = github_scripts if platform == "github" else gitlab_scripts
    return [script for data in files.values() for script in pick(data)]


SHELL_WORDS = {"then", "else", "do", "if", "!", "{", "}", "time"}


def conveyor_commands(script: str) -> list[list[str]]:
    """The argument lists of every simple command of ``script`` that runs ``conveyor``."""
    text = script.replace("\\\n", " ").replace("\n", "\n;\n")  # a comment ends at its line
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segment: list[str] = []
    found = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set("();<>|&"):
            words = [word for word in segment if word not in SHELL_WORDS]
            if words and words[0] == "conveyor":
                found.append(words[1:])
            segment = []
        else:
            segment.append(token)
    return found


def rendered_files(platform: str) -> dict[str, Any]:
    values = template_values(REPO / "tests", REPO / "tests", "3.11")
    return {
        dest: yaml.safe_load(render(platform, name, values)) for name, dest in _LAYOUT[platform]
    }


def every_command() -> list[tuple[str, ...]]:
    commands = {
        tuple(command)
        for platform in FILES
        for script in all_scripts(platform, rendered_files(platform))
        for command in conveyor_commands(script)
    }
    return sorted(commands)


def leaf_command(argv: tuple[str, ...]) -> tuple[list[str], click.Command, list[str]]:
    """Walk ``conveyor``'s command groups along ``argv``: (command path, command, its args)."""
    command: click.Command = typer.main.get_command(app)
    path: list[str] = []
    rest = list(argv)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    return path, command, rest


def test_the_command_parser_finds_every_kind_of_command_line():
    script = textwrap.dedent(
        """\
        status=0
        conveyor check --json -o check.json || status=$?
        if [ "$FORCE" = true ]; then conveyor run --force; else conveyor run; fi
        command -v conveyor > /dev/null || pip install "conveyor-ml[quality]"
        echo "conveyor check failed"  # conveyor in a comment
        conveyor models show \\
          "$CONVEYOR_MODEL"
        """
    )
    assert conveyor_commands(script) == [
        ["check", "--json", "-o", "check.json"],
        ["run", "--force"],
        ["run"],
        ["models", "show", "$CONVEYOR_MODEL"],
    ]


def test_the_workflows_call_the_commands_of_the_loop():
    commands = {" ".join(command) for command in every_command()}
    assert {
        "run",
        "run --force",
        "check --json -o check.json",
        "check --promote challenger",
        "check --promote champion",
        "report --check-file check.json --format md -o report",
        "report --check-file check.json --format html -o report",
        "models show $CONVEYOR_MODEL",
    } <= commands


@pytest.mark.parametrize("argv", every_command(), ids=" ".join)
def test_every_conveyor_command_line_exists_and_parses(argv, cli, tmp_path):
    path, command, args = leaf_command(argv)
    assert path, f"`conveyor {' '.join(argv)}`: no such command"
    assert not isinstance(command, click.Group), f"`conveyor {' '.join(path)}` needs a subcommand"
    result = cli(*path, "--help", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    # Parse the arguments as the command would (option names, choices, types), running nothing;
    # a shell variable stands for a name.
    values = ["x" if arg.startswith("$") else arg for arg in args]
    command.make_context(f"conveyor {' '.join(path)}", values)


@pytest.mark.parametrize("platform", FILES)
def test_every_script_is_valid_shell_without_interpolated_expressions(platform, cli, make_project):
    root = make_repo(make_project)
    scripts = all_scripts(platform, init(cli, root, platform))
    assert scripts
    for script in scripts:
        assert "${{" not in script, "expressions go through env:, never into a script"
        check = subprocess.run(
            ["bash", "-n"], input=script, text=True, capture_output=True, check=False
        )
        assert check.returncode == 0, f"{check.stderr}\n{script}"


# -- GitHub ------------------------------------------------------------------------------


def test_github_ci_runs_on_pull_requests_and_reports_on_them(cli, make_project):
    root = make_repo(make_project)
    ci = init(cli, root, "github", "--python", "3.12")[".github/workflows/conveyor-ci.yml"]

    assert "pull_request" in triggers(ci)
    assert ci["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in ci["concurrency"]["group"]
    assert ci["env"]["CONVEYOR_DB_URL"] == "${{ secrets.CONVEYOR_DB_URL }}"
    assert ci["env"]["CONVEYOR_ARTIFACTS"] == "${{ secrets.CONVEYOR_ARTIFACTS }}"
    (job,) = ci["jobs"].values()
    assert uses(job, "actions/checkout")["with"]["fetch-depth"] == 0
    python = uses(job, "actions/setup-python")["with"]
    assert (python["python-version"], python["cache"]) == ("3.12", "pip")
    cache = uses(job, "actions/cache")["with"]
    assert cache["path"] == ".conveyor"
    assert "hashFiles('conveyor.lock')" in cache["key"]
    assert "report/" in uses(job, "actions/upload-artifact")["with"]["path"]
    assert "pip install -r requirements.txt" in step(job, "Install")["run"]
    assert "EDIT HERE" in step(job, "Install")["run"]
    check = step(job, "Check the quality gates")["run"]
    assert "conveyor check --json -o check.json || status=$?" in check
    assert "!cancelled()" in step(job, "Write the report")["if"]
    assert "exit 1" in step(job, "Fail when a quality gate failed")["run"]


def test_github_comment_step_finds_its_marker_and_updates_one_comment(cli, make_project):
    root = make_repo(make_project)
    ci = init(cli, root, "github")[".github/workflows/conveyor-ci.yml"]
    (job,) = ci["jobs"].values()
    comment = step(job, "Comment on the pull request")

    assert comment["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert MARKER in comment["run"]
    assert "--method PATCH" in comment["run"]
    assert "--method POST" in comment["run"]


def test_github_train_runs_on_a_schedule_or_by_hand_and_registers_a_challenger(cli, make_project):
    root = make_repo(make_project)
    train = init(cli, root, "github")[".github/workflows/conveyor-train.yml"]

    on = triggers(train)
    assert on["schedule"][0]["cron"] == "0 4 * * 1"
    assert on["workflow_dispatch"]["inputs"]["force"]["type"] == "boolean"
    assert train["env"]["CONVEYOR_MODEL"] == "churn"
    (job,) = train["jobs"].values()
    assert "conveyor run --force" in step(job, "Run the pipeline")["run"]
    assert step(job, "Run the pipeline")["env"]["FORCE"] == "${{ inputs.force }}"
    promote = step(job, "Register the challenger")
    assert "conveyor check --promote challenger" in promote["run"]
    assert promote["if"] == "${{ steps.check.outputs.exit-code == '0' }}"
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in job["steps"])


def test_github_deliver_promotes_the_champion_behind_the_production_environment(cli, make_project):
    root = make_repo(make_project)
    deliver = init(cli, root, "github")[".github/workflows/conveyor-deliver.yml"]

    push = triggers(deliver)["push"]
    assert push["branches"] == ["main"]
    assert {"conveyor.yaml", "conveyor.lock", "params.yaml", "src/**", "data/**"} <= set(
        push["paths"]
    )
    evaluate, promote = deliver["jobs"]["evaluate"], deliver["jobs"]["promote"]
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in evaluate["steps"])
    assert promote["needs"] == "evaluate"
    assert promote["environment"] == "production"
    assert "needs.evaluate.outputs.passed" in promote["if"]
    assert (
        "conveyor check --promote champion"
        in step(promote, "Make the candidate the champion")["run"]
    )


# -- GitLab ------------------------------------------------------------------------------


def test_gitlab_pipeline_has_the_three_workflows_as_jobs_with_rules(cli, make_project):
    root = make_repo(make_project)
    files = init(cli, root, "gitlab", "--python", "3.12")

    main = files[".gitlab-ci.yml"]
    assert [item["local"] for item in main["include"]] == FILES["gitlab"][1:]
    assert main["variables"]["FORCE"]["value"] == "false"
    base = files[".gitlab/conveyor/base.yml"][".conveyor"]
    assert base["image"] == "python:3.12"
    assert base["variables"]["CONVEYOR_MODEL"] == "churn"
    conveyor_cache = base["cache"][0]
    assert conveyor_cache["key"]["files"] == ["conveyor.lock"]
    assert conveyor_cache["paths"] == [".conveyor/"]
    assert any("EDIT HERE" in line or "requirements.txt" in line for line in base["before_script"])

    ci = files[".gitlab/conveyor/ci.yml"]["conveyor-ci"]
    assert ci["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert ci["interruptible"] is True
    assert ci["artifacts"]["when"] == "always"
    assert "report/" in ci["artifacts"]["paths"]

    train = files[".gitlab/conveyor/train.yml"]["conveyor-train"]
    assert "schedule" in train["rules"][0]["if"]
    assert "web" in train["rules"][0]["if"]
    assert "conveyor check --promote challenger" in train["script"]
    assert any("conveyor run --force" in line for line in train["script"])

    deliver = files[".gitlab/conveyor/deliver.yml"]
    promote = deliver["conveyor-deliver:promote"]
    assert promote["environment"]["name"] == "production"
    assert promote["needs"] == ["conveyor-deliver:evaluate"]
    assert "$CI_DEFAULT_BRANCH" in promote["rules"][0]["if"]
    assert "conveyor.lock" in promote["rules"][0]["changes"]
    assert "conveyor check --promote champion" in promote["script"]


def test_gitlab_note_job_uses_glab_and_updates_one_note(cli, make_project):
    root = make_repo(make_project)
    note = init(cli, root, "gitlab")[".gitlab/conveyor/ci.yml"]["conveyor-ci:note"]

    assert note["needs"] == [{"job": "conveyor-ci", "artifacts": True}]
    assert note["rules"][0]["when"] == "always"
    script = "\n".join(note["script"])
    assert MARKER in script
    assert "glab api --method PUT" in script
    assert "glab api --method POST" in script


# -- the comment scripts, run against stand-ins for gh and glab ---------------------------

FAKE_API = """\
import json, os, sys
args = sys.argv[1:]
assert args[0] == "api", args
with open(os.environ["API_LOG"], "a") as log:
    method = args[args.index("--method") + 1] if "--method" in args else "GET"
    body = None
    if "--input" in args:
        body = json.loads(sys.stdin.read())["body"]
    for arg in args:
        if arg.startswith("body=@"):
            body = open(arg[len("body=@"):]).read()
    endpoint = next(a for a in args[1:] if not a.startswith("-") and a not in (method,)
                    and not a.startswith("body="))
    log.write(json.dumps({"method": method, "endpoint": endpoint, "body": body}) + "\\n")
if method == "GET":
    pages = json.loads(os.environ["API_PAGES"])
    text = "".join(json.dumps(page) for page in pages)  # --paginate: one array per page
    if "--jq" in args:
        jq = args[args.index("--jq") + 1]
        done = __import__("subprocess").run(["jq", "-r", jq], input=text, text=True,
                                            capture_output=True, check=True)
        text = done.stdout
    sys.stdout.write(text)
"""

# Only where jq is not installed: the two forms of it the scripts use.
FAKE_JQ = """\
import json, re, sys
args = [a for a in sys.argv[1:] if a not in ("-r", "-Rs")]
if "-Rs" in sys.argv:
    sys.stdout.write(json.dumps({"body": open(args[1]).read()}))
    sys.exit()
needle = re.search(r'startswith\\("([^"]*)"\\)', args[0]).group(1)
decoder, text, at = json.JSONDecoder(), sys.stdin.read(), 0
while True:
    while at < len(text) and text[at].isspace():
        at += 1
    if at == len(text):
        break
    page, at = decoder.raw_decode(text, at)
    for item in page:
        if item["body"].startswith(needle):
            print(item["id"])
"""


def fake_bin(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    tools = {"gh": FAKE_API, "glab": FAKE_API}
    if shutil.which("jq") is None:
        tools["jq"] = FAKE_JQ
    for name, code in tools.items():
        path = folder / name
        path.write_text(f"#!{sys.executable}\n{code}", encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def run_comment_script(
    script: str, shell: list[str], tmp_path: Path, pages: list[Any], env: dict[str, str]
) -> list[dict[str, Any]]:
    work = tmp_path / "work"
    (work / "report").mkdir(parents=True)
    (work / "report" / "report.md").write_text(
        f"{MARKER}\n# Conveyor report\n\n![roc curve](roc.png)\n\nroc_auc 0.97\n", encoding="utf-8"
    )
    log = tmp_path / "api.jsonl"
    path = f"{fake_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}"
    full_env = {
        **os.environ,
        **env,
        "PATH": path,
        "API_LOG": str(log),
        "API_PAGES": json.dumps(pages),
    }
    done = subprocess.run(
        [*shell, script], cwd=work, env=full_env, text=True, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def pages_with(marked_id: int | None) -> list[list[dict[str, Any]]]:
    first = [{"id": 1, "body": "LGTM"}, {"id": 2, "body": f"> {MARKER}\n> quoting a report"}]
    second = [{"id": 3, "body": "nit: naming"}]
    if marked_id is not None:
        second.append({"id": marked_id, "body": f"{MARKER}\nan older report"})
    return [first, second]


def github_comment_script(cli, make_project) -> str:
    root = make_repo(make_project)
    (job,) = init(cli, root, "github")[".github/workflows/conveyor-ci.yml"]["jobs"].values()
    return str(step(job, "Comment on the pull request")["run"])


GITHUB_ENV = {
    "GITHUB_REPOSITORY": "acme/churn",
    "PR_NUMBER": "7",
    "ARTIFACT_URL": "https://github.com/acme/churn/actions/runs/9/artifacts/11",
    "RUN_URL": "https://github.com/acme/churn/actions/runs/9",
}
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]


def test_github_comment_script_updates_the_marked_comment(cli, make_project, tmp_path):
    script = github_comment_script(cli, make_project)
    calls = run_comment_script(script, BASH, tmp_path, pages_with(42), GITHUB_ENV)

    assert [(c["method"], c["endpoint"]) for c in calls] == [
        ("GET", "repos/acme/churn/issues/7/comments"),
        ("PATCH", "repos/acme/churn/issues/comments/42"),
    ]
    body = calls[1]["body"]
    assert body.startswith(MARKER)
    assert "roc_auc 0.97" in body
    assert "](roc.png)" not in body  # no image a comment cannot show
    assert GITHUB_ENV["ARTIFACT_URL"] in body
    assert GITHUB_ENV["RUN_URL"] in body


def test_github_comment_script_posts_when_there_is_no_marked_comment(cli, make_project, tmp_path):
    script = github_comment_script(cli, make_project)
    calls = run_comment_script(script, BASH, tmp_path, pages_with(None), GITHUB_ENV)

    assert [(c["method"], c["endpoint"]) for c in calls] == [
        ("GET", "repos/acme/churn/issues/7/comments"),
        ("POST", "repos/acme/churn/issues/7/comments"),
    ]
    assert calls[1]["body"].startswith(MARKER)


def gitlab_note_script(cli, make_project) -> str:
    root = make_repo(make_project)
    note = init(cli, root, "gitlab")[".gitlab/conveyor/ci.yml"]["conveyor-ci:note"]
    return "\n".join(line for line in note["script"] if not line.startswith("apk "))


GITLAB_ENV = {
    "CI_PROJECT_ID": "5",
    "CI_MERGE_REQUEST_IID": "8",
    "REPORT_JOB_URL": "https://gitlab.example.com/acme/churn/-/jobs/31",
    "CI_PIPELINE_URL": "https://gitlab.example.com/acme/churn/-/pipelines/30",
}


@pytest.mark.parametrize(("marked_id", "method"), [(42, "PUT"), (None, "POST")])
def test_gitlab_note_script_updates_the_marked_note_or_posts_one(
    marked_id, method, cli, make_project, tmp_path
):
    script = gitlab_note_script(cli, make_project)
    calls = run_comment_script(script, ["sh", "-ec"], tmp_path, pages_with(marked_id), GITLAB_ENV)

    notes = "projects/5/merge_requests/8/notes"
    target = f"{notes}/42" if marked_id else notes
    assert [(c["method"], c["endpoint"]) for c in calls] == [
        ("GET", f"{notes}?per_page=100"),
        (method, target),
    ]
    body = calls[1]["body"]
    assert body.startswith(MARKER)
    assert f"{GITLAB_ENV['REPORT_JOB_URL']}/artifacts/browse/report/" in body
    assert "](roc.png)" not in body


# -- values, conflicts and errors --------------------------------------------------------


def test_existing_files_are_refused_without_force_and_nothing_is_written(cli, make_project):
    root = make_repo(make_project)
    mine = root / ".github" / "workflows" / "conveyor-train.yml"
    mine.parent.mkdir(parents=True)
    mine.write_text("# my own\n", encoding="utf-8")

    result = cli("ci", "init", "github", cwd=root)

    assert result.exit_code == 1
    assert ".github/workflows/conveyor-train.yml" in result.stderr
    assert "--force" in result.stderr
    assert mine.read_text(encoding="utf-8") == "# my own\n"
    assert not (root / ".github" / "workflows" / "conveyor-ci.yml").exists()

    init(cli, root, "github", "--force")
    assert "conveyor check --promote challenger" in mine.read_text(encoding="utf-8")


def test_the_service_raises_a_conflict_naming_every_existing_file(make_project):
    root = make_repo(make_project)
    write_workflows(root, "gitlab")
    with pytest.raises(ConflictError) as caught:
        write_workflows(root, "gitlab")
    for rel in FILES["gitlab"]:
        assert rel in caught.value.message
    assert "include" in str(caught.value.hint)


def test_an_unknown_platform_is_refused_naming_both(cli, make_project):
    root = make_repo(make_project)
    result = cli("ci", "init", "jenkins", cwd=root)
    assert result.exit_code == 2
    assert "'github'" in result.output
    assert "'gitlab'" in result.output
    with pytest.raises(InvalidValue, match="github, gitlab"):
        write_workflows(root, "jenkins")  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["2", "3", "python3.11", "3.11; rm -rf /"])
def test_a_python_version_that_is_not_one_is_refused(version, cli, make_project):
    root = make_repo(make_project)
    result = cli("ci", "init", "github", "--python", version, cwd=root)
    assert result.exit_code == 1
    assert "3.X" in result.stderr
    assert not (root / ".github").exists()


def test_outside_a_project_it_says_so(cli, tmp_path):
    result = cli("ci", "init", "github", cwd=tmp_path)
    assert result.exit_code == 1
    assert "conveyor.yaml" in result.stderr


def test_without_a_model_name_the_files_ask_for_one(cli, make_project):
    config = "stages:\n  train:\n    cmd: echo trained > model.txt\n    outs: [model.txt]\n"
    root = make_repo(make_project, config)
    files = init(cli, root, "github")

    train = files[".github/workflows/conveyor-train.yml"]
    assert train["env"]["CONVEYOR_MODEL"] == ""
    text = (root / ".github/workflows/conveyor-train.yml").read_text(encoding="utf-8")
    assert "EDIT HERE: the registered model" in text


def test_a_project_below_the_repository_top_gets_its_paths_prefixed(cli, make_project):
    top = make_repo(make_project, subdir="ml")
    result = cli("ci", "init", "github", cwd=top / "ml")
    assert result.exit_code == 0, result.output
    ci = yaml.safe_load((top / ".github/workflows/conveyor-ci.yml").read_text(encoding="utf-8"))
    deliver = yaml.safe_load(
        (top / ".github/workflows/conveyor-deliver.yml").read_text(encoding="utf-8")
    )
    assert ci["defaults"]["run"]["working-directory"] == "ml"
    (job,) = ci["jobs"].values()
    assert uses(job, "actions/cache")["with"]["path"] == "ml/.conveyor"
    assert "hashFiles('ml/conveyor.lock')" in uses(job, "actions/cache")["with"]["key"]
    assert "ml/conveyor.yaml" in triggers(deliver)["push"]["paths"]

    assert f"the repository's top: {top.resolve()}" in result.stdout
    assert "wrote .github/workflows/conveyor-ci.yml" in result.stdout

    assert cli("ci", "init", "gitlab", cwd=top / "ml").exit_code == 0
    base = yaml.safe_load((top / ".gitlab/conveyor/base.yml").read_text(encoding="utf-8"))
    assert base[".conveyor"]["cache"][0]["paths"] == ["ml/.conveyor/"]
    assert 'cd "ml"' in base[".conveyor"]["before_script"][1]


def test_github_expressions_pass_through_and_no_placeholder_is_left(make_project):
    root = make_repo(make_project)
    for platform in FILES:
        for path in write_workflows(root, platform):
            text = path.read_text(encoding="utf-8")
            assert "@@" not in text
            if platform == "github":
                assert "${{ github.token }}" in text or "${{ secrets.CONVEYOR_DB_URL }}" in text


def test_every_template_is_package_data():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["conveyor"]
    templates = resources.files("conveyor.ci").joinpath("templates")
    for platform, layout in _LAYOUT.items():
        for name, _ in layout:
            assert templates.joinpath(platform, name).is_file()
            rel = f"ci/templates/{platform}/{name}"
            assert any(fnmatch.fnmatch(rel, pattern) for pattern in globs), rel
