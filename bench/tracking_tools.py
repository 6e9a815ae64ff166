"""The tracking SDKs under test: MLflow's and Conveyor's, each driven by a small script.

MLflow is installed from PyPI into its own virtualenv (``bench/.venvs/mlflow``), created on
the first run and reused after; Conveyor is the one installed in the repository's
``.venv``. Each measurement is a fresh process of ``bench/drivers/mlflow_driver.py`` (by
MLflow's Python) or ``bench/drivers/conveyor_driver.py`` (by Conveyor's), on its own SQLite
file in a directory under ``bench/.work/``. Both see the same environment: ``DO_NOT_TRACK=1``,
``MLFLOW_ENABLE_TELEMETRY=false``, no ``CONVEYOR_*``/``MLFLOW_*`` settings from outside, and
bytecode cached in ``bench/.venvs/pycache`` as for the DVC group.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from timing import run_checked
from tools import BENCH_DIR, REPO_ROOT, base_env, ensure_venv

MLFLOW_VENV = BENCH_DIR / ".venvs" / "mlflow"
DRIVERS = BENCH_DIR / "drivers"


@dataclass(frozen=True)
class Drivers:
    """How to start each tool's driver, and the environment both run in."""

    mlflow_python: Path
    conveyor_python: Path
    env: dict[str, str]

    def mlflow(self, scenario: str, directory: Path, *args: str) -> list[str]:
        """``argv`` of the MLflow driver for ``scenario`` on ``directory``."""
        driver = DRIVERS / "mlflow_driver.py"
        return [str(self.mlflow_python), str(driver), scenario, str(directory), *args]

    def conveyor(self, scenario: str, directory: Path, *args: str) -> list[str]:
        """``argv`` of the Conveyor driver for ``scenario`` on ``directory``."""
        driver = DRIVERS / "conveyor_driver.py"
        return [str(self.conveyor_python), str(driver), scenario, str(directory), *args]


def find_drivers() -> Drivers:
    """Both interpreters (installing MLflow on the first run) and the shared environment."""
    python = ensure_venv(MLFLOW_VENV, "mlflow", "mlflow").parent / "python"  # mlflow: the CLI
    env = base_env()
    env["MLFLOW_ENABLE_TELEMETRY"] = "false"
    return Drivers(mlflow_python=python, conveyor_python=Path(sys.executable), env=env)


def mlflow_version(drivers: Drivers) -> str:
    """The installed ``mlflow`` distribution's version."""
    probe = "import importlib.metadata as m; print(m.version('mlflow'))"
    argv = [str(drivers.mlflow_python), "-c", probe]
    return run_checked(argv, REPO_ROOT, drivers.env).stdout.strip()
