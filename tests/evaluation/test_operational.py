"""Latency and model size, measured on a real saved model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from saved_models import Fitted

from conveyor.errors import DataError, InvalidValue
from conveyor.evaluation.operational import model_size_bytes, single_row_latency


def test_latency_percentiles_are_ordered_and_plausible(binary: Fitted) -> None:
    latency = single_row_latency(binary.model, binary.X_test, calls=50)
    assert latency.calls == 50
    assert 0 < latency.p50_ms <= latency.p95_ms <= latency.p99_ms
    assert latency.p50_ms < 1000  # one row through a logistic regression


def test_latency_cycles_through_fewer_rows_than_calls(binary: Fitted) -> None:
    latency = single_row_latency(binary.model, binary.X_test.head(3), calls=30)
    assert latency.calls == 30


def test_latency_refuses_no_calls_or_no_rows(binary: Fitted) -> None:
    with pytest.raises(InvalidValue, match="at least one call"):
        single_row_latency(binary.model, binary.X_test, calls=0)
    with pytest.raises(DataError, match="at least one row"):
        single_row_latency(binary.model, binary.X_test.head(0))


def test_model_size_is_the_sum_of_its_files(binary: Fitted, tmp_path: Path) -> None:
    expected = sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(binary.directory)
        for name in names
    )
    assert model_size_bytes(binary.directory) == expected > 0
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "weights.bin").write_bytes(b"x" * 1000)
    (tmp_path / "meta.json").write_text("{}")
    assert model_size_bytes(tmp_path) == 1002
