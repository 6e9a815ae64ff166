"""``conveyor ci init github|gitlab``: the CI / CT / CD workflow files of a project."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="ci",
    help="CI glue: workflow files that run Conveyor on GitHub Actions or GitLab CI.",
    no_args_is_help=True,
)

NEXT_STEPS = {
    "github": (
        "set the repository secrets CONVEYOR_DB_URL (postgresql://...) and CONVEYOR_ARTIFACTS "
        "(s3://bucket/prefix), plus AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for S3: "
        "`gh secret set CONVEYOR_DB_URL`. Without them a pull request has no champion to "
        "compare with, and training and delivery refuse to run",
        "create the environment `production` (Settings -> Environments) and add required "
        "reviewers, so that promoting a champion waits for an approval",
        "edit the cron line of conveyor-train.yml and the `>>> EDIT HERE` install lines",
        "commit and push .github/workflows/",
    ),
    "gitlab": (
        "add the CI/CD variables CONVEYOR_DB_URL (postgresql://...) and CONVEYOR_ARTIFACTS "
        "(s3://bucket/prefix), plus AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for S3, "
        "masked. Without them a merge request has no champion to compare with, and training "
        "and delivery refuse to run",
        "add GITLAB_TOKEN, a project access token (role Reporter, scope api), masked and not "
        "protected: it posts the report note on merge requests",
        "add a pipeline schedule (Build -> Pipeline schedules) for continuous training",
        "commit and push .gitlab-ci.yml and .gitlab/conveyor/",
    ),
}


class CIPlatform(enum.StrEnum):
    """The CI platforms ``conveyor ci init`` writes workflows for."""

    github = "github"
    gitlab = "gitlab"


def register(root: typer.Typer) -> None:
    """Add the ``ci`` command group to ``root``."""
    root.add_typer(app)


@app.command("init")
def init(
    platform: Annotated[
        CIPlatform, typer.Argument(help="The CI platform: github or gitlab.", show_default=False)
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    python: Annotated[
        str, typer.Option("--python", help="The Python version the jobs install.")
    ] = "3.11",
) -> None:
    """Write CI, continuous-training and delivery workflows that call Conveyor.

    GitHub: .github/workflows/conveyor-{ci,train,deliver}.yml. GitLab: .gitlab-ci.yml and
    .gitlab/conveyor/*.yml. Existing files are kept unless --force.
    """
    from conveyor.ci import repository_root, write_workflows
    from conveyor.project import load_project

    project = load_project()
    root = repository_root(project.root)
    written = write_workflows(
        root, platform.value, force=force, python=python, project=project.root
    )
    if root != Path.cwd().resolve():
        typer.echo(f"the repository's top: {root}")
    for path in written:
        typer.echo(f"wrote {path.relative_to(root).as_posix()}")
    typer.echo("next steps:")
    for number, step in enumerate(NEXT_STEPS[platform.value], start=1):
        typer.echo(f"  {number}. {step}")
    typer.echo("more: docs/ci.md")
