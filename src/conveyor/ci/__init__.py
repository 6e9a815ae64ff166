"""CI glue: the workflow files that run Conveyor on GitHub Actions or GitLab CI.

Three workflows call the CLI: CI on every pull / merge request (run, check, report, one
comment kept up to date), continuous training on a schedule (run, check, register the
challenger) and continuous delivery from the default branch (run, check, promote the champion
behind the ``production`` environment). See ``docs/ci.md``.
"""

from conveyor.ci.init import PLATFORMS, Platform, repository_root, write_workflows

__all__ = ["PLATFORMS", "Platform", "repository_root", "write_workflows"]
