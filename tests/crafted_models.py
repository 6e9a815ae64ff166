"""Model files as an attacker would write them, for the tests of what loading trusts.

:func:`plant_code` writes a skops file of a real, fitted estimator that still predicts
normally, with one extra attribute built on load by calling ``numpy.testing.runstring``
(``exec`` in numpy's test helpers) on a payload that writes ``marker``. skops rebuilds the
attribute by calling the named function with the stored arguments, so a loader that trusts
the name runs the payload.

:func:`log_crafted` stores a crafted model directory and records it on a new run, as someone
with write access to the artifact store and the database could, skipping ``log_model``'s
checks.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import skops.io

import conveyor as cv
from conveyor.ids import new_id, utcnow
from conveyor.model_files import store_tree
from conveyor.store.entities import LoggedModel

ATTRIBUTE = "calibration_"
RUNSTRING = "numpy.testing.runstring"


def plant_code(estimator: object, path: Path, marker: Path) -> None:
    """Write ``estimator`` to the skops file ``path`` with a payload that creates ``marker``."""
    payload = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('code ran on load')"
    setattr(estimator, ATTRIBUTE, (payload, {}))  # dumped as a tuple node, rewired below
    try:
        data = skops.io.dumps(estimator)
    finally:
        delattr(estimator, ATTRIBUTE)
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        files = {name: source.read(name) for name in source.namelist()}
    schema = json.loads(files["schema.json"])
    arguments = schema["content"]["content"][ATTRIBUTE]
    module, _, function = RUNSTRING.rpartition(".")
    schema["content"]["content"][ATTRIBUTE] = {
        "__class__": function,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": arguments,
        "__id__": id(arguments) + 1,
    }
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, content in files.items():
            target.writestr(name, content)


def log_crafted(directory: Path) -> LoggedModel:
    """Store the model ``directory`` as-is and record it as model "model" of a new run."""
    with cv.start_run() as run:
        hashed = store_tree(run.ctx.artifacts, directory)
        logged = LoggedModel(
            id=new_id(),
            run_id=run.id,
            name="model",
            flavor="sklearn",
            digest=hashed.digest,
            info=json.loads((directory / "conveyor-model.json").read_text("utf-8")),
            created_at=utcnow(),
        )
        run._store.models.add_model(logged)
    return logged
