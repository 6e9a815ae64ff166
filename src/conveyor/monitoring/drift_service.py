"""What ``conveyor monitor drift`` needs besides the statistics: reading the two sides.

Offline, both sides are CSV or Parquet files (read with :mod:`conveyor.validation.reader`,
so a missing or unreadable file is a DataError naming it). Live, two sources, chosen by
``source`` (``auto``: the first that has data):

- ``profiles``: the gateway's live profiles of the window (every request counted into the
  version's reference profile's bins, :mod:`conveyor.monitoring.profile_drift`), against
  the reference profile saved with the version: unsampled, one query;
- ``log``: the inputs the prediction log kept (sampled by ``--log-sample-rate``, masked
  fields left out) against the version's ``reference.parquet``.

Both judge the predictions too when the reference has them::

    live = live_drift(ctx, "churn@champion", window=timedelta(hours=1))
    live.report  # a DriftReport, or None with live.message when the window has no rows
    live.predictions  # the model's outputs, judged apart (a FeatureDrift), or None
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.errors import DataError, InvalidValue, NotFoundError
from conveyor.monitoring.drift import DriftReport, FeatureDrift, detect_drift
from conveyor.monitoring.predlog_schema import INPUT_PREFIX, MASKED, OUTPUT

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.context import Context
    from conveyor.monitoring.profile import ReferenceProfile
    from conveyor.registry import Resolved

CHAMPION = "champion"
SOURCES = ("auto", "profiles", "log")
PROFILES, LOG = "profiles", "prediction_log"


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
    # The compared frames, for the plots of ``-o DIR``; not part of the JSON (from
    # profiles: None, and ``frames()`` rebuilds drawable ones from the counts).
    reference: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    current: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    source: str = LOG  # "profiles" or "prediction_log": what the current side was read from
    predictions: FeatureDrift | None = None  # the model's outputs, judged apart
    prediction_note: str = ""  # why ``predictions`` is None
    unprofiled: list[str] = field(default_factory=list)  # past the gateway's feature cap
    profile: dict[str, Any] = field(default_factory=dict)  # windows, writers, quantiles...
    drawn: Callable[[], tuple[pd.DataFrame, pd.DataFrame]] | None = field(
        default=None, repr=False, compare=False
    )

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """The two sides for the report's plots: the compared frames (prediction log), or
        frames rebuilt from the profiles' counts (``profile_drift.plot_frames``)."""
        if self.reference is not None and self.current is not None:
            return self.reference, self.current
        return self.drawn() if self.drawn is not None else None

    @property
    def drifted(self) -> bool:
        """Whether the inputs or the predictions drifted."""
        inputs = self.report is not None and self.report.drifted
        return inputs or (self.predictions is not None and self.predictions.drifted)

    def as_dict(self) -> dict[str, Any]:
        """The report's JSON with where the data came from; without rows, the
        ``insufficient_data`` verdict in the report's shape. ``drifted`` and ``status`` are
        the inputs' verdict; ``predictions`` is the outputs' finding (or null, with
        ``prediction_note``)."""
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
            "source": self.source,
            "masked_features": self.masked,
            "unprofiled_features": self.unprofiled,
            **base,
            "predictions": self.predictions.as_dict() if self.predictions else None,
            "prediction_note": self.prediction_note,
            "profile": self.profile,
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
    source: str = "auto",
) -> LiveDrift:
    """Drift of ``model``'s version over the last ``window`` against that version's
    reference: from the gateway's live profiles when it has any for the window, else from
    the inputs the prediction log kept (``source``: ``auto``, ``profiles`` or ``log``).

    ``model`` is a name (its champion if it has one, else its latest version), ``name@alias``
    or a ``models:/`` URI; ``version`` picks a version of a plain name.
    """
    if source not in SOURCES:
        raise InvalidValue(
            f"the drift source must be one of {', '.join(SOURCES)}, got {source!r}",
            hint="auto uses the gateway's live profiles when it has some, else the log",
        )
    settings = settings or Settings()
    resolved = resolve_version(ctx, model, version)
    assert resolved.version is not None  # resolve_version only returns registered versions
    until = now or datetime.now(UTC)
    since = until - window
    if source != "log":
        found = _from_profiles(ctx, resolved, since, until, settings)
        if found.report is not None or source == "profiles":
            return found
    return _from_log(ctx, resolved, since, until, settings)


def _from_profiles(
    ctx: Context, resolved: Resolved, since: datetime, until: datetime, settings: Settings
) -> LiveDrift:
    from conveyor.monitoring.live_profile import read_live
    from conveyor.monitoring.profile_drift import plot_frames, profile_drift

    assert resolved.version is not None
    name, number = resolved.version.name, resolved.version.version
    reference = reference_profile(ctx, resolved)
    read = read_live(ctx.store.signals, name, number, reference, since, until)
    live = read.profile
    if live is None or live.rows == 0:
        message = (
            f"insufficient data: the gateway wrote no live profile of {name} version {number} "
            f"from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC (is it serving with "
            "--profiles? windows still open are written when they end; try a longer --window)"
        )
        return LiveDrift(name, number, since, until, 0, None, message, source=PROFILES)
    found = profile_drift(
        reference,
        live,
        columns=settings.columns,
        correction=settings.correction,
        alpha=settings.alpha,
    )
    notes = []
    if found.unprofiled:
        notes.append(
            f"not profiled by the gateway (its feature cap): {', '.join(found.unprofiled)}"
        )
    if live.dropped:
        notes.append(f"{live.dropped:,} rows were not counted (the gateway's profiler fell behind)")
    statement = found.report.statement + "".join(f" ({note})" for note in notes)
    details = {
        "windows": read.windows,
        "writers": read.writers,
        "first_window": read.start.isoformat() if read.start else None,
        "last_window_end": read.end.isoformat() if read.end else None,
        "dropped_rows": live.dropped,
        "skipped_rows": read.skipped,
        **found.details,
    }
    names = [f.name for f in found.report.features]
    return LiveDrift(
        name, number, since, until, live.rows, found.report, statement, source=PROFILES,
        predictions=found.predictions, prediction_note=found.prediction_note,
        unprofiled=found.unprofiled, profile=details,
        drawn=lambda: plot_frames(reference, live, names),
    )  # fmt: skip


def _from_log(
    ctx: Context, resolved: Resolved, since: datetime, until: datetime, settings: Settings
) -> LiveDrift:
    from conveyor.monitoring.predictions import read_predictions

    assert resolved.version is not None
    name, number = resolved.version.name, resolved.version.version
    reference = reference_data(ctx, resolved)
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
    predictions, why = _logged_predictions(ctx, resolved, logged, settings)
    return LiveDrift(
        name, number, since, until, len(current), report, statement, masked, reference, current,
        predictions=predictions, prediction_note=why,
    )  # fmt: skip


def _logged_predictions(
    ctx: Context, resolved: Resolved, logged: pd.DataFrame, settings: Settings
) -> tuple[FeatureDrift | None, str]:
    """The logged outputs against the predictions of the stored reference profile (a
    version saved before profiles existed has none: its profile is not built for this)."""
    from conveyor.model_files import fetch_tree
    from conveyor.modelpack import PROFILE_FILE
    from conveyor.monitoring.drift.counts import ColumnCounts, count_categories, count_numeric
    from conveyor.monitoring.profile import ReferenceProfile
    from conveyor.monitoring.profile_drift import judge_predictions

    directory = fetch_tree(ctx.artifacts, resolved.model.digest, "dir", ctx.model_cache)
    stored = directory / PROFILE_FILE
    if not stored.is_file():
        return None, "the version was saved without a reference profile: no reference predictions"
    profile = ReferenceProfile.from_json(stored.read_text(encoding="utf-8"), str(stored))
    if profile.prediction is None or OUTPUT not in logged.columns:
        return judge_predictions(profile, None, settings.alpha, settings.correction)
    ref = profile.prediction.reference
    outputs = logged[OUTPUT]
    try:
        if ref.kind == "numeric":
            edges = ref.bins.edges if ref.bins is not None else np.empty(0)
            counts: ColumnCounts = count_numeric(edges, outputs)
        else:
            counts = count_categories(ref.categories, outputs)
    except (TypeError, ValueError) as exc:  # outputs of several values per row
        return None, f"the logged outputs cannot be compared with the reference's: {exc}"
    return judge_predictions(profile, counts, settings.alpha, settings.correction)


def reference_profile(ctx: Context, resolved: Resolved) -> ReferenceProfile:
    """The version's reference profile (stored, or built from ``reference.parquet``);
    NotFoundError when it was saved without reference data."""
    from conveyor.model_files import fetch_tree
    from conveyor.monitoring.profile import load_profile

    assert resolved.version is not None
    directory = fetch_tree(ctx.artifacts, resolved.model.digest, "dir", ctx.model_cache)
    found = load_profile(directory)
    if found is None:
        raise _no_reference(resolved)
    return found


def resolve_version(ctx: Context, model: str, version: int | None) -> Resolved:
    """The registered version ``model`` (and ``version``) name; see :func:`live_drift`."""
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
    directory = fetch_tree(ctx.artifacts, resolved.model.digest, "dir", ctx.model_cache)
    path = directory / REFERENCE_FILE
    if not path.is_file():
        raise _no_reference(resolved)
    return read_data(path)


def _no_reference(resolved: Resolved) -> NotFoundError:
    from conveyor.modelpack import REFERENCE_FILE

    assert resolved.version is not None
    named = f"{resolved.version.name} version {resolved.version.version}"
    return NotFoundError(
        f"{named} has no reference data ({REFERENCE_FILE}) to compare live inputs with",
        hint="log the model with reference_data=X_train (cv.log_model), or compare files "
        "offline: conveyor monitor drift --reference A --current B",
    )


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
