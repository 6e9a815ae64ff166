"""The seams the code keeps: one reader of the environment, a CLI that goes through services."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "conveyor"


def test_only_settings_reads_the_environment() -> None:
    environ = re.compile(
        r"\bos\.(environ|getenv|putenv|unsetenv)\b|\bfrom os import\b.*\benviron\b"
    )
    readers = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "settings.py" or path.parent != SRC
        if environ.search(path.read_text(encoding="utf-8"))
    )
    assert readers == [], "read the environment through conveyor.settings instead"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_cli_module_touches_the_store() -> None:
    """The CLI parses, calls one service method and prints: repositories are the services'
    business (type-only imports included)."""
    offenders = {
        path.name: sorted(n for n in _imported(path) if re.match(r"conveyor\.store(\.|$)", n))
        for path in (SRC / "cli").glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_delivery_and_monitoring_never_import_the_gateway() -> None:
    """The gateway applies delivery's tables and feeds monitoring; neither depends on it, so a
    rollout controller or an alerting process runs without the gateway (type-only imports
    included)."""
    offenders = {
        str(path.relative_to(SRC)): sorted(
            n for n in _imported(path) if re.match(r"conveyor\.serving(\.|$)", n)
        )
        for package in ("delivery", "monitoring")
        for path in (SRC / package).rglob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
