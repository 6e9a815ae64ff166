"""Serving speed, side by side: ``conveyor serve``, ``mlflow models serve`` and a bare ceiling.

Run: ``.venv/bin/python bench/serving_bench.py`` (a few minutes; MLflow is installed from
PyPI into ``bench/.venvs/mlflow`` on the first run, see ``tracking_tools.py``).

One model for all: scikit-learn's ``make_pipeline(StandardScaler(), LogisticRegression())``
fitted on the bundled breast-cancer data, pickled once into ``bench/.work/serving`` and
logged from that file by each tool (Conveyor: ``conveyor.log_model`` in a scratch project,
registered and promoted to ``@champion``; MLflow: ``mlflow.sklearn.log_model`` into a file
store). Three servers, started one at a time, each measured right after the other:

- ``conveyor serve --model cancer@champion`` with ``--no-log-predictions``, and once more
  with the prediction log on (the default);
- ``mlflow models serve --env-manager local`` with its defaults (telemetry off);
- the ceiling: a bare Starlette endpoint returning a constant, on uvicorn with uvloop and
  httptools.

The load comes from a separate process: an asyncio client (``httpx.AsyncClient``, a
keep-alive connection pool as large as the concurrency), one row per request, ``c`` workers
each sending its next request as soon as the last one answered, for ``DURATION_S`` after
``WARMUP_S`` of warm-up. Everything runs on this machine, over loopback, so the load
generator and the server share its cores. The scratch projects are removed at the end and
every server is stopped, on error and Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tools import BENCH_DIR, REPO_ROOT, base_env

WORK = BENCH_DIR / ".work" / "serving"
WARMUP_S = 2.0
DURATION_S = 8.0
READY_TIMEOUT_S = 180.0

# targets of issue 5, "Speed, measured against MLflow side by side"
TARGET_X_MLFLOW_C16 = 20.0
TARGET_P99_SHARE_C16 = 0.1
TARGET_X_MLFLOW_C64 = 40.0
TARGET_CEILING_SHARE_C16 = 0.4


# --------------------------------------------------------------------------- load generator


def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` workers on one keep-alive pool; runs in its own process."""
    import asyncio

    import httpx

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    url: str = spec["url"]
    body = spec["body"].encode()
    concurrency: int = spec["concurrency"]
    headers = {"Content-Type": "application/json"}

    async def main() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        latencies: list[float] = []
        errors = 0
        error_kinds: dict[str, int] = {}
        start = time.perf_counter()
        measure_from = start + spec["warmup"]
        stop_at = measure_from + spec["duration"]
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

            async def worker() -> None:
                nonlocal errors
                while True:
                    t0 = time.perf_counter()  # uvloop's loop.time() ticks in ms
                    if t0 >= stop_at:
                        return
                    try:
                        response = await client.post(url, content=body, headers=headers)
                        ok = response.status_code == 200
                        kind = str(response.status_code)
                    except httpx.HTTPError as exc:
                        ok, kind = False, type(exc).__name__
                    t1 = time.perf_counter()
                    if t0 >= measure_from and t1 <= stop_at:
                        if ok:
                            latencies.append(t1 - t0)
                        else:
                            errors += 1
                            error_kinds[kind] = error_kinds.get(kind, 0) + 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        latencies.sort()

        def pct(q: float) -> float:
            if not latencies:
                return float("nan")
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

        return {
            "requests": len(latencies),
            "rps": len(latencies) / spec["duration"],
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": errors,
            "error_kinds": error_kinds,
        }

    return asyncio.run(main())


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A server process started by this script (its own process group) and where to hit it."""

    label: str
    proc: subprocess.Popen[bytes]
    url: str
    body: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        else:  # the leader is gone; its children (workers) may not be
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


RUNNING: list[Server] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    label: str, argv: list[str], cwd: Path, env: dict[str, str], url: str, body: str
) -> Server:
    log = WORK / f"{label.replace(' ', '_').replace('/', '_')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(label, proc, url, body, log)
    RUNNING.append(server)
    wait_ready(server)
    return server


def wait_ready(server: Server) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.label} exited ({server.proc.returncode}):\n{tail(server)}")
        try:
            r = httpx.post(server.url, content=server.body, headers=headers, timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{server.label} not ready in {READY_TIMEOUT_S:.0f} s:\n{tail(server)}")


def tail(server: Server, lines: int = 30) -> str:
    try:
        return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(server: Server) -> None:
    server.stop()
    if server in RUNNING:
        RUNNING.remove(server)


def measure(server: Server, concurrency: int, env: dict[str, str]) -> dict[str, Any]:
    spec = {
        "url": server.url,
        "body": server.body,
        "concurrency": concurrency,
        "warmup": WARMUP_S,
        "duration": DURATION_S,
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--loadgen", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=WARMUP_S + DURATION_S + 120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{proc.stdout}{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(server=server.label, concurrency=concurrency)
    if server.proc.poll() is not None:
        raise RuntimeError(f"{server.label} died during the load:\n{tail(server)}")
    print(
        f"  {server.label:<34} c={concurrency:<3} {result['rps']:8.1f} req/s  "
        f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
        f"errors {result['errors']}",
        flush=True,
    )
    return result


def run_checked(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


# --------------------------------------------------------------------------- set-up


def train(model_file: Path) -> tuple[list[str], list[float]]:
    """Fit the example's model, pickle ``(model, X.head(3))``; return columns and one row."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    with model_file.open("wb") as f:
        # the example as plain lists: a pickled DataFrame may not load on the other pandas
        example = {"columns": [str(c) for c in X.columns], "data": X.head(3).values.tolist()}
        pickle.dump((model, example), f)
    return [str(c) for c in X.columns], [float(v) for v in X.iloc[0]]


CONVEYOR_LOGGER = """
import pickle, sys
import conveyor
import pandas as pd
model, example = pickle.load(open(sys.argv[1], "rb"))
example = pd.DataFrame(example["data"], columns=example["columns"])
with conveyor.start_run():
    conveyor.log_model(model, "model", input_example=example)
"""

MLFLOW_LOGGER = """
import pickle, sys
import mlflow, mlflow.sklearn
import pandas as pd
model, example = pickle.load(open(sys.argv[1], "rb"))
example = pd.DataFrame(example["data"], columns=example["columns"])
mlflow.set_tracking_uri(sys.argv[2])
with mlflow.start_run():
    info = mlflow.sklearn.log_model(model, "model", input_example=example)
print(info.model_uri)
"""

CEILING_APP = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"predictions":[0]}'


async def predict(request):
    await request.body()
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
"""


def conveyor_project(model_file: Path, env: dict[str, str]) -> Path:
    project = WORK / "conveyor"
    project.mkdir(parents=True)
    (project / "conveyor.yaml").write_text('stages:\n  noop:\n    cmd: "true"\n')
    logger = WORK / "conveyor_logger.py"
    logger.write_text(CONVEYOR_LOGGER)
    run_checked([sys.executable, str(logger), str(model_file)], project, env)
    conveyor = str(Path(sys.executable).parent / "conveyor")
    run_checked([conveyor, "models", "register", "latest", "--name", "cancer"], project, env)
    run_checked([conveyor, "models", "promote", "cancer", "1", "--to", "champion"], project, env)
    return project


def mlflow_python(env: dict[str, str]) -> Path:
    """MLflow's interpreter (installed by the tracking bench's helper), with our scikit-learn."""
    from tools import ensure_venv
    from tracking_tools import MLFLOW_VENV

    python = ensure_venv(MLFLOW_VENV, "mlflow", "mlflow").parent / "python"
    import sklearn

    probe = "import sklearn; print(sklearn.__version__)"
    theirs = run_checked([str(python), "-c", probe], REPO_ROOT, env).strip()
    if theirs != sklearn.__version__:  # the pickle must load on the same scikit-learn
        print(f"aligning MLflow's scikit-learn {theirs} -> {sklearn.__version__} ...", flush=True)
        pip = [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"scikit-learn=={sklearn.__version__}",
        ]
        run_checked(pip, REPO_ROOT, env)
    return python


# --------------------------------------------------------------------------- report


def fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"


def report(results: list[dict[str, Any]], notes: list[str], meta: dict[str, str]) -> None:
    def find(server_prefix: str, c: int) -> dict[str, Any] | None:
        for r in results:
            if r["server"].startswith(server_prefix) and r["concurrency"] == c:
                return r
        return None

    print()
    print("## Serving: conveyor serve vs mlflow models serve vs a bare Starlette ceiling")
    print()
    for k, v in meta.items():
        print(f"- {k}: {v}")
    print()
    print("| server | concurrency | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['server']} | {r['concurrency']} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} "
            f"| {fmt(r['p99_ms'], 2)} | {r['errors']} |"
        )
    print()

    def ratio(name: str, value: str, target: str, ok: bool) -> None:
        print(f"| {name} | {value} | {target} | {'**met**' if ok else '**missed**'} |")

    conv16 = find("conveyor (no log)", 16)
    conv64 = find("conveyor (no log)", 64)
    convlog16 = find("conveyor (log on)", 16)
    ml16 = find("mlflow", 16)
    ceil16 = find("ceiling", 16)
    print("| ratio at c=16 (Conveyor = --no-log-predictions) | value | target | |")
    print("|---|---:|---:|---|")
    if conv16 and ml16 and ml16["rps"] > 0:
        x = conv16["rps"] / ml16["rps"]
        ratio(
            "Conveyor / MLflow req/s",
            f"{x:.1f}x",
            f"≥ {TARGET_X_MLFLOW_C16:.0f}x",
            x >= TARGET_X_MLFLOW_C16,
        )
        share = conv16["p99_ms"] / ml16["p99_ms"]
        ratio(
            "Conveyor p99 / MLflow p99",
            f"{share:.3f}",
            f"≤ {TARGET_P99_SHARE_C16}",
            share <= TARGET_P99_SHARE_C16,
        )
        if convlog16:
            xl = convlog16["rps"] / ml16["rps"]
            ratio(
                "Conveyor (log on) / MLflow req/s",
                f"{xl:.1f}x",
                f"≥ {TARGET_X_MLFLOW_C16:.0f}x",
                xl >= TARGET_X_MLFLOW_C16,
            )
        if conv64:
            x64 = conv64["rps"] / ml16["rps"]
            ratio(
                "Conveyor c=64 / MLflow c=16 req/s (issue: 'with batching'; none yet)",
                f"{x64:.1f}x",
                f"≥ {TARGET_X_MLFLOW_C64:.0f}x",
                x64 >= TARGET_X_MLFLOW_C64,
            )
    else:
        print("| Conveyor / MLflow | n/a (MLflow not measured, see notes) | ≥ 20x | not checked |")
    if conv16 and ceil16 and ceil16["rps"] > 0:
        c = conv16["rps"] / ceil16["rps"]
        ratio(
            "Conveyor / ceiling req/s",
            f"{c:.0%}",
            f"≥ {TARGET_CEILING_SHARE_C16:.0%}",
            c >= TARGET_CEILING_SHARE_C16,
        )
    print()
    for n in notes:
        print(f"- {n}")


# --------------------------------------------------------------------------- main


def main() -> None:
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    env = base_env()
    env["MLFLOW_ENABLE_TELEMETRY"] = "false"
    env["DO_NOT_TRACK"] = "1"
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    import platform

    import sklearn

    meta = {
        "load generator": "separate process, asyncio + httpx.AsyncClient with a keep-alive "
        f"pool of `c` connections, `c` closed-loop workers, one row per request, "
        f"{WARMUP_S:.0f} s warm-up then {DURATION_S:.0f} s measured; loopback, same machine",
        "machine": f"{os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}",
    }
    try:
        model_file = WORK / "model.pkl"
        columns, row = train(model_file)
        v1_body = json.dumps({"instances": [row]})
        mlflow_body = json.dumps({"dataframe_split": {"columns": columns, "data": [row]}})

        # ---- Conveyor
        print("setting up the Conveyor project ...", flush=True)
        project = conveyor_project(model_file, env)
        conveyor = str(Path(sys.executable).parent / "conveyor")
        for label, extra in (
            ("conveyor (no log)", ["--no-log-predictions"]),
            ("conveyor (log on)", []),
        ):
            port = free_port()
            argv = [conveyor, "serve", "--model", "cancer@champion", "--port", str(port), *extra]
            url = f"http://127.0.0.1:{port}/v1/models/cancer:predict"
            server = start(label, argv, project, env, url, v1_body)
            try:
                for c in (1, 16, 64):
                    results.append(measure(server, c, env))
            finally:
                stop(server)

        # ---- MLflow
        try:
            print("setting up MLflow ...", flush=True)
            python = mlflow_python(env)
            version = run_checked(
                [str(python), "-c", "import mlflow; print(mlflow.__version__)"], REPO_ROOT, env
            ).strip()
            store = WORK / "mlflow-store"
            # not created here: MLflow's file store makes its default experiment only in
            # a directory it creates itself
            tracking_uri = store.as_uri()
            logger = WORK / "mlflow_logger.py"
            logger.write_text(MLFLOW_LOGGER)
            ml_env = dict(env)
            ml_env["MLFLOW_TRACKING_URI"] = tracking_uri
            # MLflow 3.x refuses the file store (maintenance mode) unless this is set
            ml_env["MLFLOW_ALLOW_FILE_STORE"] = "true"
            ml_env["PATH"] = os.pathsep.join([str(python.parent), ml_env["PATH"]])
            out = run_checked(
                [str(python), str(logger), str(model_file), tracking_uri], WORK, ml_env
            )
            uri = out.strip().splitlines()[-1]
            port = free_port()
            argv = [
                str(python.parent / "mlflow"),
                "models",
                "serve",
                "-m",
                uri,
                "-p",
                str(port),
                "--env-manager",
                "local",
            ]
            label = f"mlflow {version}"
            server = start(
                label, argv, WORK, ml_env, f"http://127.0.0.1:{port}/invocations", mlflow_body
            )
            try:
                for c in (1, 16):
                    results.append(measure(server, c, env))
            finally:
                stop(server)
            meta["mlflow"] = (
                f"{version} from PyPI in bench/.venvs/mlflow, `mlflow models serve -m {uri} "
                "--env-manager local` with its default workers"
            )
        except (RuntimeError, SystemExit, subprocess.SubprocessError) as exc:
            notes.append(f"MLflow could not be measured: {exc}")
            print(f"MLflow could not be measured: {exc}", flush=True)

        # ---- ceiling
        (WORK / "ceiling_app.py").write_text(CEILING_APP)
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "ceiling_app:app",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        server = start(
            "ceiling (bare Starlette)", argv, WORK, env, f"http://127.0.0.1:{port}/predict", v1_body
        )
        try:
            for c in (1, 16):
                results.append(measure(server, c, env))
        finally:
            stop(server)
    finally:
        for server in list(RUNNING):
            stop(server)
        shutil.rmtree(WORK, ignore_errors=True)
    if results:
        report(results, notes, meta)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--loadgen":
        print(json.dumps(_loadgen(json.loads(sys.argv[2]))))
    else:
        try:
            main()
        except KeyboardInterrupt:
            raise SystemExit(130) from None
