"""Reading the prediction log back: only the files whose window overlaps the range are opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor.artifacts import ArtifactStore
from conveyor.errors import ArtifactError
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.predictions import log_files, read_predictions, read_table
from conveyor.serving.predlog import PredictionLog

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DAMAGED = "predictions/churn/date=2024-05-01/20240501T115900Z-60s-0123456789ab.parquet"


def prediction(request_id: str, at: datetime, version: int) -> Prediction:
    inputs = pd.DataFrame({"age": [30, 31]})
    return Prediction(request_id, "churn", version, inputs, np.array([0, 1]), 0.004, at)


@pytest.fixture
def logged(tmp_path: Path) -> str:
    """Three one-minute windows from noon, versions 3 and 4 in each, and a damaged file in
    the window just before noon (it ends at noon) that fails whoever opens it."""
    log = PredictionLog(str(tmp_path), window_s=60)
    for minute in range(3):
        for version in (3, 4):
            log.observe(prediction(f"m{minute}-v{version}", NOON + minute * MINUTE, version))
    log.close()
    ArtifactStore(str(tmp_path)).write_named(DAMAGED, b"not parquet")
    return str(tmp_path)


def test_a_narrow_range_opens_only_the_files_of_its_windows(logged: str) -> None:
    since, until = NOON + MINUTE, NOON + 2 * MINUTE

    rows = read_predictions(logged, "churn", since=since, until=until, version=4)

    assert list(rows["request_id"]) == ["m1-v4", "m1-v4"]
    assert set(rows["version"]) == {4}
    opened = log_files(ArtifactStore(logged), "churn", since, until)
    assert [name.rsplit("/", 1)[-1][:16] for name in opened] == ["20240501T120100Z"]


def test_the_damaged_file_outside_the_range_would_fail_if_opened(logged: str) -> None:
    assert len(read_predictions(logged, "churn", since=NOON)) == 12
    with pytest.raises(ArtifactError, match="20240501T115900Z-60s-0123456789ab"):
        read_predictions(logged, "churn", since=NOON - 2 * MINUTE)


def test_the_version_filter_is_applied_as_files_are_read(logged: str) -> None:
    table = read_table(logged, "churn", since=NOON, version=3)

    assert table is not None
    assert table.num_rows == 6
    assert set(table.column("version").to_pylist()) == {3}
    assert read_table(logged, "churn", since=NOON, version=9) is None
    assert read_predictions(logged, "churn", since=NOON, version=9).empty


def test_a_window_longer_than_a_day_is_found_from_a_later_day(tmp_path: Path) -> None:
    """A file sits in the partition of its window's start day; a range starting on a later
    day still finds the rows its window holds."""
    at = datetime(2024, 5, 4, 6, 0, tzinfo=UTC)
    window_s = 7 * 86400
    log = PredictionLog(str(tmp_path), window_s=window_s)
    log.observe(prediction("late", at, 3))
    log.close()
    (name,) = ArtifactStore(str(tmp_path)).list_named("predictions/churn")
    assert "date=2024-05-02" in name  # the window started on an earlier day

    rows = read_predictions(str(tmp_path), "churn", since=at - timedelta(hours=1))

    assert list(rows["request_id"]) == ["late", "late"]
