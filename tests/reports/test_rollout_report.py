"""The rollout report of a rollout the controller drove on synthetic outcome windows written
through the store: the verdict table has the deciding verdict of each step with its evidence,
the three plots are valid PNGs, and the same rollout renders to the same bytes."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from tests.delivery.test_rollout_controller import Clock, _windows
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery.rollout import service
from conveyor.delivery.rollout.controller import Controller
from conveyor.delivery.rollout.stepping import next_window as _next_window
from conveyor.reports.rollout import gather, verdict_rows, write_rollout_report


def _promoted(ctx: Context) -> str:
    """A canary of churn v2 over v1 at 5% then 50%, promoted; returns its id."""
    config = DeployConfig(steps=[5, 50, 100], interval="60s", pretraffic=False)
    rollout = service.deploy(ctx, "churn", 2, config)
    clock = Clock()
    clock.now = _next_window(rollout.created_at)
    controller = Controller(ctx, clock=clock)
    controller.tick()
    _windows(ctx.store, clock.now, 7, {2: (200, 2), 1: (3800, 38)})
    clock.now += timedelta(seconds=30)
    controller.tick()  # not yet held the interval
    clock.now += timedelta(seconds=40)
    controller.tick()  # 5% passes (60 s after its warm-up window): to 50%
    _windows(ctx.store, clock.now, 12, {2: (2000, 20), 1: (2000, 20)})
    clock.now += timedelta(seconds=120)
    controller.tick()  # 50% passes: promoted
    assert ctx.store.rollouts.get(rollout.id).status == "promoted"
    return rollout.id


def test_the_report_has_each_steps_verdict_and_the_plots(ctx: Context, tmp_path) -> None:
    rollout_id = _promoted(ctx)
    record = gather(ctx, "churn")
    assert record.rollout.id == rollout_id

    page = write_rollout_report(record, tmp_path / "md")

    text = page.read_text()
    assert f"Rollout {rollout_id} of churn: v2 over v1, promoted" in text
    judge = next(line for line in text.splitlines() if line.startswith("**Judge:**"))
    assert judge.startswith("**Judge:** `conveyor`: Conveyor's anytime-valid sequential tests")
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    steps = {row.split(" | ")[1] for row in rows}
    assert steps == {"1/3 (5%)", "2/3 (50%)"}  # the last verdict of each step
    error_rows = [row for row in rows if "`error_rate`" in row]
    assert len(error_rows) == 2
    assert all(" | pass | " in row for row in error_rows)
    assert "24,000 / 24,000" in error_rows[1]  # the 50% step's sample on each arm
    for name in ("weights.png", "errors.png", "latency.png"):
        assert f"]({name})" in text
        image = Image.open(io.BytesIO((tmp_path / "md" / name).read_bytes()))
        image.verify()
        assert image.format == "PNG"
    again = write_rollout_report(gather(ctx, "churn"), tmp_path / "again")
    for name in ("weights.png", "errors.png", "latency.png", "rollout.md"):
        assert (tmp_path / "md" / name).read_bytes() == (again.parent / name).read_bytes()


def test_the_html_report_carries_its_plots_and_escapes_text(ctx: Context, tmp_path) -> None:
    _promoted(ctx)
    page = write_rollout_report(gather(ctx, "churn"), tmp_path, fmt="html")

    html = page.read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "<td>error_rate</td>" in html
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(
    ("judge", "tests"),
    [("kayenta", "Mann-Whitney U test per metric"), ("flagger", "fixed thresholds on the canary")],
)
def test_the_header_names_the_judge_and_what_it_tests(
    ctx: Context, tmp_path, judge: str, tests: str
) -> None:
    config = DeployConfig(steps=[5, 100], interval="60s", pretraffic=False, judge=judge)  # type: ignore[arg-type]
    rollout = service.deploy(ctx, "churn", 2, config)
    clock = Clock()
    clock.now = _next_window(rollout.created_at)
    Controller(ctx, clock=clock).tick()
    record = gather(ctx, "churn")

    text = write_rollout_report(record, tmp_path / "md").read_text()
    html = write_rollout_report(record, tmp_path / "html", fmt="html").read_text()

    (line,) = [line for line in text.splitlines() if line.startswith("**Judge:**")]
    assert line.startswith(f"**Judge:** `{judge}`: ")
    assert tests in line
    assert text.index("**Judge:**") < text.index("## Verdicts")  # in the header
    assert f"<strong>Judge:</strong> <code>{judge}</code>: " in html
    assert tests in html


def test_a_rollout_of_another_model_or_none_is_named(ctx: Context) -> None:
    from conveyor.errors import NotFoundError

    with pytest.raises(NotFoundError, match="never been rolled out"):
        gather(ctx, "churn")
    with pytest.raises(NotFoundError):
        gather(ctx, "churn", "nosuchrollout")


def test_verdict_rows_keep_every_failing_verdict(ctx: Context) -> None:
    config = DeployConfig(steps=[5, 100], interval="60s", pretraffic=False)
    service.deploy(ctx, "churn", 2, config)
    clock = Clock()
    controller = Controller(ctx, clock=clock)
    rollout = ctx.store.rollouts.active("churn")[0]
    clock.now = _next_window(rollout.created_at)
    controller.tick()
    _windows(ctx.store, clock.now, 6, {2: (200, 20), 1: (3800, 38)})
    clock.now += timedelta(seconds=60)
    controller.tick()

    rows = verdict_rows(gather(ctx, "churn"))
    failed = [r.cells for r in rows if r.cells[3] == "error_rate"]
    assert [c[2] for c in failed] == ["fail"]
    assert failed[0][7] == "fail"
