"""What a version's checks before any user traffic found: :class:`Check` and
:class:`PreTrafficReport`.

The checks themselves (:mod:`conveyor.serving.pretraffic`) feed the version through the
gateway's own request path, so they live with the gateway; the rollout controller only
reads their report, and ``delivery`` never imports ``serving``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import PreTrafficFailed


@dataclass(frozen=True)
class Check:
    """One pre-traffic check: its name, whether it passed, what it saw, and one sentence."""

    name: str
    passed: bool
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "passed": self.passed,
            "message": self.message,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class PreTrafficReport:
    """Every pre-traffic check of one version; it may receive traffic only if all passed."""

    model: str
    version: int
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"model", "version", "passed", "checks": [...]}``."""
        return {
            "model": self.model,
            "version": self.version,
            "passed": self.passed,
            "checks": [check.as_dict() for check in self.checks],
        }

    def raise_if_failed(self) -> None:
        """Raise :class:`PreTrafficFailed` (carrying this report) unless every check passed."""
        failed = [check for check in self.checks if not check.passed]
        if failed:
            lines = "\n".join(f"  {check.name}: {check.message}" for check in failed)
            raise PreTrafficFailed(
                f"model {self.model!r} version {self.version} is refused before any traffic; "
                f"{len(failed)} of {len(self.checks)} pre-traffic check(s) failed:\n{lines}",
                report=self,
                hint="fix the model and register a new version; the stable version keeps "
                "all traffic",
            )
