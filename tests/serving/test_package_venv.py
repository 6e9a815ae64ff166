"""Bundles installed into fresh virtualenvs, as a user would: one per model flavor, served by
its ``serve.py`` and asked for predictions; and ``conveyor package`` itself run from a venv
that ``python -m venv`` made (the setuptools it ships is too old for our pyproject.toml).

Every test here builds a virtualenv and installs 50-odd distributions into it: slow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tests.serving.gateway_process import free_port

import conveyor
import conveyor as cv
from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.modelpack import load_model_dir
from conveyor.packaging import build_bundle, pinned_requirements

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHECKOUT = Path(conveyor.__file__).resolve().parents[2]  # the source tree under test
FRAME = load_breast_cancer(as_frame=True).frame
X, Y = FRAME.drop(columns="target"), FRAME["target"]


def _sklearn() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, Y)


def _xgboost() -> object:
    import xgboost

    return xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, Y)


def _lightgbm() -> object:
    import lightgbm

    return lightgbm.LGBMClassifier(n_estimators=10, random_state=0, verbose=-1).fit(X, Y)


def _onnx() -> object:
    from conveyor.flavors.onnx import convert_sklearn

    return convert_sklearn(_sklearn(), X.head())


MODELS: dict[str, Callable[[], object]] = {
    "sklearn": _sklearn,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
}


@pytest.fixture(scope="module")
def flavored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    """A project with one registered version per flavor, the model named after its flavor."""
    root = tmp_path_factory.mktemp("flavors") / "project"
    root.mkdir()
    (root / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONVEYOR_DB_URL", raising=False)
        patch.delenv("CONVEYOR_ARTIFACTS", raising=False)
        patch.setenv("CONVEYOR_PROJECT_ROOT", str(root))
        patch.chdir(root)
        for flavor, build in MODELS.items():
            example = X.head(3)
            with cv.start_run():
                cv.log_model(build(), "model", input_example=example, flavor=flavor)
            tracking.close_stores()
            assert main(["models", "register", "latest", "--name", flavor]) == 0
        yield Context.resolve()


def fresh_venv(venv: Path, *, pip: bool = False) -> Path:
    """``python -m venv`` (with its bundled pip and setuptools when ``pip``); its python."""
    command = [sys.executable, "-m", "venv", str(venv)]
    subprocess.run(command if pip else [*command, "--without-pip"], check=True)
    return venv / "bin" / "python"


def pip_install(python: Path, *args: str, cwd: Path) -> None:
    """Install into ``python``'s venv with this interpreter's pip (the venv may have none)."""
    install = subprocess.run(  # --no-compile: 6 s instead of 25 s; imports compile what they use
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--disable-pip-version-check", "--no-compile", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr


def venv_env() -> dict[str, str]:
    """This environment without CONVEYOR_* and PYTHONPATH: a venv sees only what it holds."""
    drop = ("CONVEYOR_", "PYTHONPATH")
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


def install_bundle(bundle: Path, venv: Path) -> Path:
    """The bundle's recipe: a fresh venv, ``pip install --no-deps -r requirements.txt``."""
    python = fresh_venv(venv)
    pip_install(python, "--no-deps", "-r", "requirements.txt", cwd=bundle)
    return python


@pytest.mark.parametrize("flavor", list(MODELS))  # torch: its 700 MB wheel, not installed
def test_each_flavor_serves_from_a_fresh_virtualenv(
    flavor: str, flavored: Context, tmp_path: Path
) -> None:
    bundle = build_bundle(f"{flavor}/1", tmp_path / "bundle", flavored).directory
    python = install_bundle(bundle, tmp_path / "venv")
    where = subprocess.run(
        [str(python), "-c", "import conveyor; print(conveyor.__file__)"],
        env=venv_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(tmp_path / "venv"))  # conveyor from the bundle's wheel
    rows = X.head(20)
    want = np.asarray(load_model_dir(bundle / "model").predict(rows))
    with serving(bundle, python, tmp_path) as client:
        v1 = client.post(f"/v1/models/{flavor}:predict", json={"instances": rows.values.tolist()})
        assert v1.status_code == 200, v1.text
        np.testing.assert_allclose(np.asarray(v1.json()["predictions"]).reshape(want.shape), want,
                                   rtol=1e-5)  # fmt: skip
        split = {"dataframe_split": rows.to_dict(orient="split")}
        mlflow = client.post("/invocations", json=split)
        assert mlflow.status_code == 200, mlflow.text


def test_a_venv_made_by_python_m_venv_can_package(served, tmp_path: Path) -> None:
    """setuptools 65 (what ``python -m venv`` ships) cannot build our pyproject.toml: the
    wheel of a checkout is then built with build isolation, as ``pip install .`` would."""
    python = fresh_venv(tmp_path / "venv", pip=True)
    old = subprocess.run(
        [str(python), "-c", "import setuptools; print(setuptools.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert int(old.stdout.split(".")[0]) < 77, old.stdout  # the case the issue reports
    pins = pinned_requirements(["scikit-learn", "skops"])  # what serving cancer needs
    pinned = [f"{d.metadata['Name']}=={d.version}" for k, d in pins.items() if k != "conveyor-ml"]
    pip_install(python, "--no-deps", *pinned, cwd=tmp_path)
    checkout = tmp_path / "checkout"  # a copy: building writes egg-info into src/
    shutil.copytree(CHECKOUT / "src" / "conveyor", checkout / "src" / "conveyor")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (CHECKOUT / name).exists():
            shutil.copy(CHECKOUT / name, checkout / name)
    pip_install(python, "--no-deps", "-e", str(checkout), cwd=tmp_path)  # as a user does
    packaged = subprocess.run(
        [str(python.parent / "conveyor"), "package", "cancer/1", "-o", str(tmp_path / "out")],
        cwd=served.root, env=venv_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    assert "wheels/: conveyor_ml-0.1.0-" in packaged.stdout
    [wheel] = (tmp_path / "out" / "wheels").iterdir()
    assert wheel.name.startswith("conveyor_ml-0.1.0-")


@contextmanager
def serving(bundle: Path, python: Path, cwd: Path) -> Iterator[httpx.Client]:
    """``python serve.py`` of ``bundle`` on a free port; an httpx client once it is ready."""
    port = free_port()
    server = subprocess.Popen(
        [str(python), str(bundle / "serve.py"), "--port", str(port)],
        cwd=cwd, env=venv_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_ready(client, server)
            yield client
    finally:
        server.terminate()
        try:
            server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


def _wait_ready(client: httpx.Client, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve.py exited with {server.returncode}: {server.communicate()[0]}")
        try:
            if client.get("/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("serve.py did not become ready in 60 s")
