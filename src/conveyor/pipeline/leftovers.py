"""What a killed run leaves behind, cleaned up by the next run before it starts.

Called with the run lock held, so nothing found here belongs to a live run:

- stage processes still running (see ``children.py``) are ended;
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.pipeline.children import end_left_behind
from conveyor.project import Project

if TYPE_CHECKING:
    from conveyor.pipeline.runner import Reporter


def clean_up_after_killed_runs(project: Project, reporter: Reporter) -> None:
    """Remove what earlier runs that were killed left; say what was found."""
    stages = end_left_behind(project.state_dir)
    if stages:
        groups = "process group" if len(stages) == 1 else "process groups"
        reporter.warning(
            f"ended {len(stages)} {groups} that a killed run had left running "
            f"(stage(s): {', '.join(sorted(set(stages)))})"
        )
