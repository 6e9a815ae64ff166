"""What ``conveyor monitor drift`` needs besides the statistics: reading the two sides.

Offline, both sides are CSV or Parquet files (read with :mod:`conveyor.validation.reader`,
so a missing or unreadable file is a DataError naming it). Live, the reference is the
``reference.parquet`` saved with the model version, and the current data is the inputs the
gateway logged for that version over the last window::

    live = live_drift(ctx, "churn@champion", window=timedelta(hours=1))
    live.report  # a DriftReport, or None with live.message when the window has no rows
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import DataError, NotFoundError
from conveyor.monitoring.drift import DriftReport, detect_drift
from conveyor.monitoring.predlog_schema import INPUT_PREFIX, MASKED

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.context import Context
    from conveyor.registry import Resolved

CHAMPION = "champion"


@dataclass(frozen=True)
class Settings:
    """The test settings the CLI passes through to :func:`detect_drift`."""

    columns: Sequence[str] | None = None
    correction: str = "bh"
    alpha: float = 0.05


@dataclass(frozen=True)
class LiveDrift:
    """Drift of one version's live inputs over a window; ``report`` is None (and
    ``message`` says why) when the window holds no logged rows."""

    model: str
    version: int
    since: datetime
    until: datetime
    rows: int
    report: DriftReport | None
    message: str
    masked: list[str] = field(default_factory=list)
    # The compared frames, for the plots of ``-o DIR``; not part of the JSON.
    reference: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    current: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The report's JSON with where the data came from; without rows, the
        ``insufficient_data`` verdict in the report's shape."""
        base: dict[str, Any] = (
            self.report.as_dict()
            if self.report is not None
            else {
                "drifted": False,
                "status": "insufficient_data",
                "statement": self.message,
                "drifted_features": [],
                "features": [],
            }
        )
        return {
            "model": self.model,
            "version": self.version,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "masked_features": self.masked,
            **base,
        }


def read_data(path: Path) -> pd.DataFrame:
    """A whole CSV or Parquet file as one frame; NotFoundError / DataError naming it."""
    import pandas as pd

    from conveyor.validation.reader import iter_chunks

    return pd.concat(list(iter_chunks(path)), ignore_index=True)


def file_drift(
    reference: Path, current: Path, settings: Settings
) -> tuple[DriftReport, pd.DataFrame, pd.DataFrame]:
    """Drift of the ``current`` file against the ``reference`` file, and the two frames."""
    ref, cur = read_data(reference), read_data(current)
    return _detect(ref, cur, settings), ref, cur


def live_drift(
    ctx: Context,
    model: str,
    *,
    window: timedelta,
    version: int | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> LiveDrift:
    """Drift of the inputs logged for ``model``'s version over the last ``window``
    against that version's reference data.

    ``model`` is a name (its champion if it has one, else its latest version), ``name@alias``
    or a ``models:/`` URI; ``version`` picks a version of a plain name.
    """
    from conveyor.monitoring.predictions import read_predictions

    settings = settings or Settings()
    resolved = resolve_version(ctx, model, version)
    assert resolved.version is not None  # resolve_version only returns registered versions
    name, number = resolved.version.name, resolved.version.version
    reference = reference_data(ctx, resolved)
    until = now or datetime.now(UTC)
    since = until - window
    logged = read_predictions(ctx.artifacts_url, name, since=since, until=until, version=number)
    if logged.empty:
        message = (
            f"insufficient data: no predictions of {name} version {number} were logged from "
            f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC; nothing to compare "
            "(is the gateway logging predictions? try a longer --window)"
        )
        return LiveDrift(name, number, since, until, 0, None, message)
    current, masked = _inputs(logged)
    columns = [c for c in (settings.columns or reference.columns) if c not in masked]
    chosen = Settings(columns, settings.correction, settings.alpha)
    report = _detect(reference, current, chosen)
    note = f" (masked in the log, not compared: {', '.join(masked)})" if masked else ""
    statement = report.statement + note
    return LiveDrift(
        name, number, since, until, len(current), report, statement, masked, reference, current
    )


def resolve_version(ctx: Context, model: str, version: int | None) -> Resolved:
    """The registered version ``model`` (and ``version``) name; see :func:`live_drift`."""
    from conveyor.errors import InvalidValue
    from conveyor.registry import Registry

    registry = Registry(ctx)
    text = model.strip()
    if version is not None:
        if text.startswith("models:/") or "@" in text:
            raise InvalidValue(
                f"--version {version} needs a plain model name, got {model!r}",
                hint="give either NAME --version V or a URI/alias, not both",
            )
        uri = f"models:/{text}/{version}"
    elif text.startswith(("models:/", "runs:/")):
        uri = text
    elif "@" in text:
        uri = f"models:/{text}"
    else:
        held = registry.model(text).aliases
        uri = f"models:/{text}@{CHAMPION}" if CHAMPION in held else f"models:/{text}"
    resolved = registry.resolve(uri)
    if resolved.version is None:
        raise InvalidValue(
            f"{model!r} names a model logged on a run, not a registered version",
            hint="drift is watched per registered version: give NAME, NAME@ALIAS or NAME/VERSION",
        )
    return resolved


def reference_data(ctx: Context, resolved: Resolved) -> pd.DataFrame:
    """The version's ``reference.parquet``; NotFoundError when it was saved without one."""
    from conveyor.model_files import fetch_tree
    from conveyor.modelpack import REFERENCE_FILE

    assert resolved.version is not None
    named = f"{resolved.version.name} version {resolved.version.version}"
    directory = fetch_tree(ctx.artifacts, resolved.model.digest, "dir", ctx.model_cache)
    path = directory / REFERENCE_FILE
    if not path.is_file():
        raise NotFoundError(
            f"{named} has no reference data ({REFERENCE_FILE}) to compare live inputs with",
            hint="log the model with reference_data=X_train (cv.log_model), or compare files "
            "offline: conveyor monitor drift --reference A --current B",
        )
    return read_data(path)


def _inputs(logged: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The logged inputs by feature name, and the features masked in the log."""
    names = [str(c) for c in logged.columns if str(c).startswith(INPUT_PREFIX)]
    if not names:
        raise DataError("the prediction log holds no input columns (input.<name>) to compare")
    frame = logged[names].rename(columns=lambda c: str(c)[len(INPUT_PREFIX) :])
    masked = [c for c in frame.columns if (frame[c].astype(object) == MASKED).any()]
    return frame.drop(columns=masked), masked


def _detect(reference: pd.DataFrame, current: pd.DataFrame, settings: Settings) -> DriftReport:
    if settings.columns:  # the current data's other columns are not reported as new ones
        current = current[[c for c in current.columns if c in settings.columns]]
    return detect_drift(
        reference,
        current,
        columns=list(settings.columns) if settings.columns else None,
        correction=settings.correction,
        alpha=settings.alpha,
    )
