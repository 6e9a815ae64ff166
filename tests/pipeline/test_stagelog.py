"""What `conveyor logs` prints of a stage recorded before the combined log existed."""

from __future__ import annotations

from conveyor.pipeline.stagelog import stage_output
from conveyor.store.entities import StageRun

OBJECTS = {"o" * 64: b"printed\n", "e" * 64: b"Traceback\n", "l" * 64: b"printed\nTraceback\n"}


def test_a_run_with_a_combined_log_prints_it_alone():
    record = StageRun("train", "failed", stdout_digest="o" * 64, log_digest="l" * 64)

    assert stage_output(record, OBJECTS.__getitem__) == b"printed\nTraceback\n"


def test_an_older_run_prints_stdout_then_stderr():
    both = StageRun("train", "failed", stdout_digest="o" * 64, stderr_digest="e" * 64)
    only_err = StageRun("train", "failed", stderr_digest="e" * 64)

    assert stage_output(both, OBJECTS.__getitem__) == b"printed\nTraceback\n"
    assert stage_output(only_err, OBJECTS.__getitem__) == b"Traceback\n"
    assert stage_output(StageRun("train", "ran"), OBJECTS.__getitem__) == b""
