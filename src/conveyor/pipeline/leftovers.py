"""What a killed run leaves behind, cleaned up by the next run before it starts.

Called with the run lock held, so nothing found here belongs to a live run:

- stage processes still running (see ``children.py``) are ended;
- temporaries of restores (``.NAME.conveyor-1a2b3c4d`` beside an out) and of the lock file
  (``.conveyor.lock.*``) are deleted: only runs write them, and only under the run lock.

Temporaries in the artifact store are not here: other processes (the SDK, the gateway)
write there too, so they are named after their writer and cleaned by the store
(:meth:`conveyor.artifacts.ArtifactStore.remove_abandoned_tmp`).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from conveyor.hashing import is_temporary
from conveyor.pipeline.children import end_left_behind
from conveyor.pipeline.lock import LOCK_FILE
from conveyor.pipeline.outputs import remove_path
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
    _remove_temporaries(project)


def _remove_temporaries(project: Project) -> None:
    outs = [out for stage in project.pipeline.stages.values() for out in stage.outs]
    for parent in {posixpath.dirname(out) for out in outs} | {""}:
        directory = project.root / parent
        names = {posixpath.basename(out) for out in outs if posixpath.dirname(out) == parent}
        try:
            entries = list(directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = entry.name
            ours = is_temporary(name) and name[1:].rsplit(".conveyor-", 1)[0] in names
            if ours or (parent == "" and name.startswith(f".{LOCK_FILE}.")):
                remove_path(entry)
