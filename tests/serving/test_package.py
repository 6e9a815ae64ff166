"""`conveyor package`: the bundle's files, its pins, its Dockerfile, and serving it.

The slow test installs the bundle into a fresh virtualenv and serves it from there.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import conveyor
from conveyor.context import Context
from conveyor.errors import ConflictError, CorruptObject, UntrustedModel
from conveyor.hashing import Hasher
from conveyor.modelpack import load_model_dir
from conveyor.packaging import build_bundle
from conveyor.serving.bundle import BUNDLE_VAR, bundle_app, from_environment, main, serve_bundle
from conveyor.serving.pool import ModelPool
from conveyor.serving.server import ServeOptions, run_server

FILES = {"bundle.json", "model", "requirements.txt", "wheels", "serve.py", "Dockerfile",
         ".dockerignore", "README.md"}  # fmt: skip


@pytest.fixture(scope="module")
def project(served) -> Iterator[Context]:
    """The serving project's locations, with the environment pointing at it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CONVEYOR_DB_URL", raising=False)
        patch.delenv("CONVEYOR_ARTIFACTS", raising=False)
        patch.setenv("CONVEYOR_PROJECT_ROOT", str(served.root))
        yield Context.resolve()


@pytest.fixture(scope="module")
def bundle(project: Context, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle of cancer@champion (version 1)."""
    target = tmp_path_factory.mktemp("package") / "cancer"
    return build_bundle("cancer@champion", target, project).directory


def pins(bundle: Path) -> dict[str, str]:
    lines = (bundle / "requirements.txt").read_text("utf-8").splitlines()
    pairs = [line.split("==") for line in lines if "==" in line and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pairs}


def test_bundle_layout_and_description(bundle: Path, project: Context) -> None:
    assert {path.name for path in bundle.iterdir()} == FILES
    assert not list(bundle.parent.glob(".cancer.*"))  # no temporary directory left behind
    info = json.loads((bundle / "bundle.json").read_text("utf-8"))
    assert info["name"] == "cancer"
    assert info["version"] == 1
    assert info["uri"] == "models:/cancer/1"
    assert info["requested"] == "cancer@champion"
    assert info["flavor"] == "sklearn"
    assert info["conveyor"] == conveyor.__version__
    assert info["python"] == platform.python_version()
    assert datetime.fromisoformat(info["created_at"]).tzinfo is not None
    assert Hasher(bundle, None).hash_path("model").digest == info["digest"]
    assert load_model_dir(bundle / "model").info.flavor == "sklearn"


def test_requirements_pin_what_is_installed(bundle: Path) -> None:
    pinned = pins(bundle)
    model = ("scikit-learn", "skops", "numpy", "pandas", "pyarrow")
    web = ("starlette", "uvicorn", "uvloop", "httptools", "orjson", "prometheus-client")
    for name in (*model, *web, "typer", "sqlalchemy"):
        assert pinned[name] == importlib.metadata.version(name), name
    for name in ("xgboost", "xgboost-cpu", "lightgbm", "onnx", "onnxruntime", "torch", "pytest"):
        assert name not in pinned
    [wheel] = (bundle / "wheels").iterdir()
    assert wheel.name.startswith("conveyor_ml-0.1.0-")
    assert wheel.suffix == ".whl"
    assert f"./wheels/{wheel.name}" in (bundle / "requirements.txt").read_text("utf-8")


def test_requirements_are_closed_under_dependencies(bundle: Path) -> None:
    pinned = pins(bundle)
    for name in pinned:
        for text in importlib.metadata.requires(name) or ():
            need = Requirement(text)
            if need.marker is None:
                assert canonicalize_name(need.name) in pinned, f"{name} needs {need.name}"


def test_dockerfile(bundle: Path) -> None:
    text = (bundle / "Dockerfile").read_text("utf-8").replace("\\\n", " ")
    lines = [line.split(None, 1) for line in text.splitlines() if line and line[0] != "#"]
    steps = [(word, rest.strip()) for word, rest in lines]
    words = [word for word, _ in steps]
    assert steps[0] == ("FROM", f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim")
    assert ("RUN", "pip install --no-cache-dir --no-deps -r requirements.txt") in steps
    assert ("EXPOSE", "8080") in steps
    assert words.index("USER") < words.index("CMD")
    assert dict(steps)["USER"] != "root"
    health = dict(steps)["HEALTHCHECK"]
    assert "urllib.request" in health
    assert "/v2/health/ready" in health
    cmd = json.loads(dict(steps)["CMD"])
    assert cmd == ["python", "serve.py", "--host", "0.0.0.0", "--port", "8080"]
    for _, rest in (step for step in steps if step[0] == "COPY"):
        *sources, _ = rest.split()
        assert all((bundle / source).exists() for source in sources), rest
    assert "pip install --no-deps -r requirements.txt" in (bundle / "README.md").read_text()
    assert ".venv/" in (bundle / ".dockerignore").read_text("utf-8")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_served_in_process_predicts_as_the_model(bundle: Path, served) -> None:
    rows = served.features.head(5)
    want = load_model_dir(bundle / "model").predict(rows).tolist()
    assert want == served.models[1].predict(rows).tolist()
    transport = httpx.ASGITransport(app=bundle_app(bundle))
    async with httpx.AsyncClient(transport=transport, base_url="http://bundle") as client:
        body = {"instances": rows.values.tolist()}
        v1 = await client.post("/v1/models/cancer:predict", json=body)
        assert v1.json()["predictions"] == want
        tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP64",
                  "data": rows.to_numpy().ravel().tolist()}  # fmt: skip
        v2 = (await client.post("/v2/models/cancer/infer", json={"inputs": [tensor]})).json()
        assert v2["model_version"] == "1"
        assert v2["outputs"][0]["data"] == want
        assert "conveyor_requests_total" in (await client.get("/metrics")).text


def test_a_changed_model_file_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(bundle, tmp_path / "copy"))
    (copy / "model" / "input_example.json").write_text("[[1.0]]", encoding="utf-8")
    with pytest.raises(CorruptObject, match="does not match the digest"):
        bundle_app(copy)


def test_existing_directory_needs_force_and_force_replaces_only_a_bundle(
    project: Context, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConflictError, match="already exists"):
        build_bundle("cancer/2", target, project)
    with pytest.raises(ConflictError, match="not a bundle"):
        build_bundle("cancer/2", target, project, force=True)
    (target / "notes.txt").unlink()
    build_bundle("cancer/1", target, project)  # an empty directory is fine
    replaced = build_bundle("cancer/2", target, project, force=True)
    assert replaced.info.version == 2
    assert json.loads((target / "bundle.json").read_text("utf-8"))["version"] == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_pickled_model_is_not_packaged(project: Context, tmp_path: Path) -> None:
    with pytest.raises(UntrustedModel, match="quirky/1 cannot be packaged") as refused:
        build_bundle("quirky/1", tmp_path / "quirky", project)
    assert "as conveyor serve does" in (refused.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_cli_packages_and_says_how_to_run(cli, served, tmp_path: Path) -> None:
    result = cli("package", "models:/cancer/2", "-o", str(tmp_path / "b"), cwd=served.root)
    assert result.exit_code == 0, result.output
    assert "packaged cancer/2 (sklearn) into" in result.output
    assert "distributions pinned, wheels/: conveyor_ml-0.1.0-" in result.output
    assert "pip install --no-deps -r requirements.txt" in result.output
    again = cli("package", "cancer/2", "-o", str(tmp_path / "b"), cwd=served.root)
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "--force" in again.output


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("nope@champion", "no registered model named 'nope'"),
        ("cancer/9", "model 'cancer' has no version 9"),
        ("runs:/latest/model", "only those can be served"),
    ],
)
def test_cli_unknown_model_is_a_clear_error(
    cli, served, tmp_path: Path, uri: str, message: str
) -> None:
    result = cli("package", uri, "-o", str(tmp_path / "b"), cwd=served.root)
    assert result.exit_code == 1
    assert result.output.startswith("error:")
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "b").exists()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, dict[str, object]]]:
    """Calls to uvicorn.run, recorded instead of serving forever."""
    calls: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv(BUNDLE_VAR, "")  # restored after the test
    return calls


def test_serve_py_runs_uvicorn_as_conveyor_serve_does(bundle: Path, started, capsys) -> None:
    run_server(ModelPool(), ServeOptions(models=(), host="::1", port=9000))
    assert main(bundle, ["--host", "::1"], {"PORT": "9000"}) == 0
    (_, served_options), (app, bundle_options) = started
    assert bundle_options == served_options
    assert "/v2/health/ready" in {route.path for route in app.routes}
    assert "serving cancer/1 (sklearn) on http://[::1]:9000" in capsys.readouterr().out


def test_serve_py_with_workers_hands_uvicorn_a_factory(bundle: Path, started) -> None:
    serve_bundle(bundle, workers=3)
    [(target, options)] = started
    assert target == "conveyor.serving.bundle:from_environment"
    assert (options["factory"], options["workers"]) == (True, 3)
    assert os.environ[BUNDLE_VAR] == str(bundle.resolve())
    assert "/invocations" in {route.path for route in from_environment().routes}


def test_serve_py_errors(bundle: Path, tmp_path: Path, started, capsys) -> None:
    assert main(bundle, [], {"PORT": "eighty"}) == 1
    assert "error: PORT='eighty' is not a whole number" in capsys.readouterr().err
    assert main(tmp_path, []) == 1
    assert "is not a Conveyor bundle" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(bundle, ["--workers", "0"])
    assert not started


def test_a_library_missing_where_the_bundle_runs_gets_a_bundle_hint(bundle: Path) -> None:
    """The bundle is installed with --no-deps: the hint must not say to install an extra."""
    blocked = (  # as if scikit-learn were not installed: importing it raises ImportError
        "import runpy, sys; sys.modules['sklearn'] = None; sys.argv[1:] = ['--port', '1']; "
        f"runpy.run_path({str(bundle / 'serve.py')!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "needs sklearn" in done.stderr
    assert "conveyor-ml[" not in done.stderr
    assert "requirements.txt" in done.stderr
    assert "conveyor package" in done.stderr
