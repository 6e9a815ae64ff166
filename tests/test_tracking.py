"""The tracking SDK: what a script logs is recorded, batched, and never half-written."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import conveyor as cv
from conveyor.context import Context
from conveyor.errors import ConflictError, InvalidValue
from conveyor.settings import Settings
from conveyor.store import open_store
from conveyor.tracking import NoActiveRun


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty project directory as the working directory, with a clean environment."""
    for var in (
        "CONVEYOR_RUN_ID",
        "CONVEYOR_STAGE",
        "CONVEYOR_DB_URL",
        "CONVEYOR_ARTIFACTS",
        "CONVEYOR_PROJECT_ROOT",
    ):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "conveyor.yaml").write_text("stages:\n  s: {cmd: 'true'}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def store_of():
    """``store_of(root)``: the project's store, closed after the test."""
    opened = []

    def open_(root: Path):
        opened.append(open_store(f"sqlite:///{root / '.conveyor/conveyor.db'}"))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


def test_a_script_run_records_params_metrics_tags_and_artifacts(workdir, store_of):
    (workdir / "notes.txt").write_text("hello")
    with cv.start_run(name="baseline", tags={"team": "risk"}) as run:
        cv.log_params({"C": 1.0, "kernel": "rbf"})
        for step in range(3):
            cv.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        cv.log_metric("auc", 0.93)
        cv.set_tags({"stage": "dev"})
        artifact = cv.log_artifact(workdir / "notes.txt")

    recorded = store_of(workdir).runs.get(run.id)
    assert recorded.status == "success"
    assert recorded.name == "baseline"
    assert recorded.kind == "script"
    assert recorded.params == {"C": 1.0, "kernel": "rbf"}
    assert recorded.metrics == {"loss": pytest.approx(1 / 3), "auc": 0.93}
    assert recorded.tags == {"team": "risk", "stage": "dev"}
    assert store_of(workdir).runs.metric_history(run.id, "loss") == [
        (0, 1.0),
        (1, 0.5),
        (2, pytest.approx(1 / 3)),
    ]
    assert artifact.kind == "file"
    assert store_of(workdir).models.artifacts_of(run.id)[0].digest == artifact.digest


def test_a_failing_block_marks_the_run_failed_and_keeps_what_was_logged(workdir, store_of):
    def train() -> str:
        with cv.start_run() as run:
            cv.log_metrics({"loss": 0.5})
            raise RuntimeError(run.id)

    with pytest.raises(RuntimeError) as failure:
        train()
    run_id = str(failure.value)

    recorded = store_of(workdir).runs.get(run_id)
    assert recorded.status == "failed"
    assert recorded.metrics == {"loss": 0.5}


def test_nan_and_infinities_are_stored_as_such(workdir, store_of):
    with cv.start_run() as run:
        cv.log_metrics({"nan": math.nan, "up": math.inf, "down": -math.inf})

    metrics = store_of(workdir).runs.get(run.id).metrics
    assert math.isnan(metrics["nan"])
    assert metrics["up"] == math.inf
    assert metrics["down"] == -math.inf


def test_bad_values_are_clear_errors(workdir):
    with cv.start_run():
        with pytest.raises(InvalidValue, match="metric 'auc' must be a number, got str"):
            cv.log_metrics({"auc": "high"})
        with pytest.raises(InvalidValue, match="step must be a whole number"):
            cv.log_metrics({"auc": 0.9}, step=-1)
        cv.log_params({"C": 1.0})
        cv.log_params({"C": 1.0})  # the same value again is fine
        with pytest.raises(ConflictError, match=r"param 'C' .* is already 1\.0"):
            cv.log_params({"C": 2.0})


def test_logging_without_a_run_says_how_to_open_one(workdir):
    with pytest.raises(NoActiveRun, match="no run is active") as caught:
        cv.log_metrics({"auc": 0.9})
    assert "start_run" in str(caught.value)


def test_runs_do_not_nest(workdir):
    with cv.start_run(), pytest.raises(ConflictError, match="already active"), cv.start_run():
        pass


def test_metrics_are_written_in_batches_not_one_transaction_each(workdir, monkeypatch, store_of):
    batches: list[int] = []
    with cv.start_run() as run:
        real = run._store.runs.log_metric_batch

        def counting(run_id, values, stage=None):
            batches.append(len(values))
            real(run_id, values, stage)

        monkeypatch.setattr(run._store.runs, "log_metric_batch", counting)
        for i in range(2500):
            cv.log_metric("x", float(i), step=i)

    assert sum(batches) == 2500
    assert len(batches) <= 4  # 1,000 per batch, plus the rest at the end
    assert store_of(workdir).runs.get(run.id).metrics == {"x": 2499.0}


def test_inside_a_stage_the_sdk_attaches_to_the_stage_run(make_project, py_cmd, cli):
    script = py_cmd("""
        import conveyor as cv
        cv.log_params({"lr": 0.1})
        cv.log_metrics({"val_loss": 0.25}, step=3)
        with cv.start_run():  # the stage's run, not a new one
            cv.set_tags({"from": "stage"})
        open("done.txt", "w").write("ok")
    """)
    root = make_project(
        {
            "conveyor.yaml": yaml.safe_dump(
                {"stages": {"train": {"cmd": script, "outs": ["done.txt"]}}}
            )
        }
    )

    assert cli("run", cwd=root).exit_code == 0

    runs = json.loads(cli("runs", "--json", cwd=root).stdout)
    assert len(runs) == 1
    assert runs[0]["params"] == {"lr": 0.1}
    assert runs[0]["metrics"] == {"val_loss": 0.25}


CONCURRENT_LOGGER = """
import sys
import conveyor as cv
from conveyor.context import Context
from conveyor.tracking import ActiveRun

run_id, worker = sys.argv[1], int(sys.argv[2])
run = ActiveRun(run_id, Context.resolve(), None, owned=False)
for i in range(250):
    run.log_metrics({f"w{worker}": float(i)}, step=i)
    if i % 50 == 0:
        run.flush()
run.end()
"""


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_eight_processes_logging_at_once_lose_nothing(workdir, backend, request, tmp_path):
    env = {**os.environ, "CONVEYOR_PROJECT_ROOT": str(workdir)}
    if backend == "postgres":
        env["CONVEYOR_DB_URL"] = request.getfixturevalue("pg_url")
        os.environ["CONVEYOR_DB_URL"] = env["CONVEYOR_DB_URL"]
    try:
        with cv.start_run() as run:
            script = tmp_path / "logger.py"
            script.write_text(CONCURRENT_LOGGER)
            procs = [
                subprocess.Popen(
                    [sys.executable, str(script), run.id, str(w)],
                    env=env,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for w in range(8)
            ]
            errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, errors
        assert not any("locked" in e for e in errors)
        store = open_store(
            env.get("CONVEYOR_DB_URL") or f"sqlite:///{workdir}/.conveyor/conveyor.db"
        )
        counts = [len(store.runs.metric_history(run.id, f"w{w}")) for w in range(8)]
        store.close()
        assert counts == [250] * 8
    finally:
        os.environ.pop("CONVEYOR_DB_URL", None)


def test_a_killed_script_loses_at_most_its_unflushed_buffer(workdir, store_of):
    script = workdir / "train.py"
    script.write_text(
        textwrap.dedent("""
        import os, time, conveyor as cv
        with cv.start_run() as run:
            print(run.id, flush=True)
            for i in range(1500):
                cv.log_metric("loss", 1.0 / (i + 1), step=i)
            run.flush()
            cv.log_metric("loss", 0.0, step=9999)  # buffered, never flushed
            open("ready", "w").close()
            time.sleep(60)
    """)
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=workdir, stdout=subprocess.PIPE, text=True
    )
    run_id = proc.stdout.readline().strip()
    deadline = time.monotonic() + 60
    while not (workdir / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()

    history = store_of(workdir).runs.metric_history(run_id, "loss")
    assert len(history) == 1500
    assert store_of(workdir).runs.get(run_id).status == "running"


def test_a_logged_model_loads_back_by_run_and_by_registry_uri(workdir, store_of):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from conveyor.registry import Registry

    frame = load_breast_cancer(as_frame=True).frame
    features, target = frame.drop(columns="target"), frame["target"]
    model = LogisticRegression(max_iter=5000).fit(features, target)
    with cv.start_run() as run:
        logged = cv.log_model(
            model, "model", input_example=features.head(3), reference_data=features
        )

    assert logged.uri == f"runs:/{run.id}/model"
    assert logged.info["signature"]["inputs"][0]["name"] == "mean radius"
    by_run = cv.load_model(logged.uri)
    Registry(Context(Settings(user="ana"), workdir, store=store_of(workdir))).register(
        logged.uri, "cancer"
    )
    by_name = cv.load_model("models:/cancer/1")
    expected = model.predict(features.tail(20))
    assert (by_run.predict(features.tail(20)) == expected).all()
    assert (by_name.predict(features.tail(20)) == expected).all()


def test_a_stage_restored_from_cache_still_has_its_model(make_project, py_cmd, cli):
    script = py_cmd("""
        import numpy as np, conveyor as cv
        from sklearn.linear_model import LinearRegression
        x = np.arange(10.0).reshape(-1, 1)
        model = LinearRegression().fit(x, 2 * x[:, 0])
        cv.log_model(model, "model", input_example=x[:2])
        open("done.txt", "w").write("ok")
    """)
    root = make_project(
        {
            "conveyor.yaml": yaml.safe_dump(
                {"stages": {"train": {"cmd": script, "outs": ["done.txt"]}}}
            )
        }
    )
    cli("run", cwd=root)
    (root / "done.txt").unlink()
    cli("run", cwd=root)
    second = json.loads(cli("runs", "--json", cwd=root).stdout)[0]
    assert [s["status"] for s in second["stages"]] == ["cached"]

    registered = cli("models", "register", f"runs:/{second['id']}/model", "--name", "lin", cwd=root)

    assert registered.exit_code == 0, registered.output
    lineage = json.loads(cli("models", "lineage", "lin/1", "--json", cwd=root).stdout)
    first = json.loads(cli("runs", "--json", cwd=root).stdout)[1]
    assert lineage["from"][0]["id"] == second["id"]
    assert lineage["logged_by_run"] == first["id"]
    text = cli("models", "lineage", "lin/1", cwd=root).stdout
    assert f"logged by run {first['id']}" in text.splitlines()[0]


def test_numpy_scalars_are_plain_params_and_ints_equal_floats(workdir, store_of):
    import numpy as np

    with cv.start_run() as run:
        cv.log_params({"n": np.int64(3), "lr": np.float32(0.5), "C": 1.0})
        cv.log_params({"C": 1})  # the same number

    assert store_of(workdir).runs.get(run.id).params == {"n": 3, "lr": 0.5, "C": 1.0}


def test_sys_exit_zero_inside_a_run_is_success(workdir, store_of):
    with pytest.raises(SystemExit), cv.start_run() as run:
        sys.exit(0)

    assert store_of(workdir).runs.get(run.id).status == "success"


def test_two_models_of_one_name_on_a_run_are_refused(workdir):
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with cv.start_run():
        cv.log_model(model, "model")
        with pytest.raises(ConflictError, match="already has a model named 'model'"):
            cv.log_model(model, "model")


def test_a_stage_logging_a_declared_param_with_another_value_fails_that_stage(
    make_project, py_cmd, cli
):
    script = py_cmd("""
        import conveyor as cv
        cv.log_params({"lr": 0.1})
    """)
    config = {"stages": {"train": {"cmd": script, "params": ["lr"]}}}
    root = make_project({"conveyor.yaml": yaml.safe_dump(config), "params.yaml": "lr: 0.5\n"})

    result = cli("run", cwd=root)

    assert result.exit_code == 1
    assert "param 'lr'" in result.output
    run = json.loads(cli("runs", "--json", cwd=root).stdout)[0]
    assert run["params"] == {"lr": 0.5}
    assert [s["status"] for s in run["stages"]] == ["failed"]


def test_sigterm_to_a_stage_script_writes_its_buffer_first(workdir, store_of):
    with cv.start_run() as run:
        pass
    script = workdir / "stage.py"
    script.write_text(
        textwrap.dedent("""
        import time, conveyor as cv
        for i in range(10):
            cv.log_metric("loss", 1.0 / (i + 1), step=i)   # buffered: fewer than 1,000
        open("ready", "w").close()
        time.sleep(60)
    """)
    )
    env = {
        **os.environ,
        "CONVEYOR_RUN_ID": run.id,
        "CONVEYOR_STAGE": "train",
        "CONVEYOR_PROJECT_ROOT": str(workdir),
    }
    proc = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env)
    deadline = time.monotonic() + 60
    while not (workdir / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)

    assert proc.returncode == -signal.SIGTERM
    assert len(store_of(workdir).runs.metric_history(run.id, "loss")) == 10


@pytest.mark.parametrize("name", ["../{outside}", "/tmp/{outside}", "a/b", "..", "", "nul\x00"])
def test_names_that_are_not_one_path_component_are_refused(workdir, name):
    from sklearn.linear_model import LinearRegression

    outside = f"escaped-{os.getpid()}-{time.time_ns()}"  # unique: its absence proves a point
    name = name.format(outside=outside)
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    (workdir / "notes.txt").write_text("hello")
    with cv.start_run():
        with pytest.raises(InvalidValue, match=r"model name .* is not usable"):
            cv.log_model(model, name)
        with pytest.raises(InvalidValue, match=r"artifact name .* is not usable"):
            cv.log_artifact(workdir / "notes.txt", name)
    assert not (Path("/tmp") / outside).exists()


FIRST_USER = """
import sys, time
import conveyor as cv

start_at = float(sys.argv[1])
time.sleep(max(0.0, start_at - time.time()))  # all eight open the fresh database together
with cv.start_run(name="first use"):
    cv.log_metrics({"m": 1.0})
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_eight_processes_opening_a_fresh_database_at_once_all_succeed(
    workdir, backend, request, tmp_path
):
    env = {**os.environ, "CONVEYOR_PROJECT_ROOT": str(workdir)}
    if backend == "postgres":
        env["CONVEYOR_DB_URL"] = request.getfixturevalue("pg_url")
    script = tmp_path / "first_use.py"
    script.write_text(FIRST_USER)
    start_at = str(time.time() + 3.0)  # after every interpreter has imported conveyor
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), start_at], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]

    assert [p.returncode for p in procs] == [0] * 8, errors
    store = open_store(env.get("CONVEYOR_DB_URL") or f"sqlite:///{workdir}/.conveyor/conveyor.db")
    try:
        runs = store.runs.find(limit=100)
        assert len(runs) == 8
        assert all(store.runs.metric_history(r.id, "m") == [(0, 1.0)] for r in runs)
    finally:
        store.close()
