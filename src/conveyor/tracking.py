"""The tracking SDK: params, metrics, tags, artifacts and models logged on a run.

Inside a stage started by ``conveyor run`` every call attaches to that run and stage (the
runner passes ``CONVEYOR_RUN_ID``, ``CONVEYOR_STAGE``, ``CONVEYOR_DB_URL`` and
``CONVEYOR_ARTIFACTS``, read into :class:`~conveyor.settings.Settings`; the first call builds
the SDK's :class:`~conveyor.context.Context` from them, :func:`sdk_context`). Anywhere
else, ``with start_run(name=...)`` opens a run::

    import conveyor as cv

    with cv.start_run(name="baseline"):
        cv.log_params({"C": 1.0})
        for epoch in range(10):
            cv.log_metrics({"loss": 0.9 ** epoch}, step=epoch)
        cv.log_model(model, "model", input_example=X[:5], reference_data=X)

Metrics are buffered and written in batches (every 1,000 values or every second, and
when the run ends or the process exits): a crashing script loses at most that buffer, and
each write is one transaction, so the store is never left half-written.
"""

from __future__ import annotations

import atexit
import contextlib
import numbers
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConflictError, ConveyorError, InvalidValue
from conveyor.ids import new_id, utcnow
from conveyor.names import check_name
from conveyor.settings import Settings
from conveyor.store.entities import LoggedModel, RunArtifact

if TYPE_CHECKING:
    from conveyor.context import Context

FLUSH_EVERY_VALUES = 1000
FLUSH_EVERY_SECONDS = 1.0


class NoActiveRun(ConveyorError):
    """A logging call was made with no run open."""


class ActiveRun:
    """A run that is being logged to. Use the module functions, or this object directly."""

    def __init__(self, run_id: str, ctx: Context, stage: str | None, owned: bool):
        self.id = run_id
        self.stage = stage
        self.ctx = ctx
        self._store = ctx.store
        self.owned = owned  # opened by this process (start_run), so closed by it too
        self._buffer: list[tuple[str, float, int, Any]] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        _OPEN.add(self)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params; logging a param again with another value is a ConflictError."""
        params = {key: _plain(value) for key, value in params.items()}
        for key, value in params.items():
            if not isinstance(value, str | int | float | bool | None | list | dict):
                raise InvalidValue(
                    f"param {key!r} must be a string, number, boolean, list or mapping; "
                    f"got {type(value).__name__}",
                    hint="log str(value) if it has a meaningful text form",
                )
        self._store.runs.log_params(self.id, params, self.stage)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer metric values (NaN and ±inf are kept as such)."""
        at = utcnow()
        step = _checked_step(step)
        values = [(key, _checked_metric(key, value), step, at) for key, value in metrics.items()]
        with self._lock:
            self._buffer.extend(values)
            due = (
                len(self._buffer) >= FLUSH_EVERY_VALUES
                or time.monotonic() - self._last_flush >= FLUSH_EVERY_SECONDS
            )
        if due:
            self.flush()

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (strings); setting a tag again replaces its value."""
        self._store.runs.set_tags(self.id, {key: str(value) for key, value in tags.items()})

    def flush(self) -> None:
        """Write buffered metric values now, in one transaction."""
        with self._lock:
            values, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        if values:
            self._store.runs.log_metric_batch(self.id, values, self.stage)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> RunArtifact:
        """Store a file or directory in the artifact store and record it on the run."""
        from conveyor.model_files import store_tree

        source = Path(path)
        artifact_name = check_name(source.name if name is None else name, "artifact name")
        if not source.exists():
            raise InvalidValue(f"cannot log artifact {source}: it does not exist")
        hashed = store_tree(self.ctx.artifacts, source)
        artifact = RunArtifact(
            run_id=self.id,
            path=artifact_name,
            digest=hashed.digest,
            kind=hashed.kind,
            size=hashed.size,
            created_at=utcnow(),
            stage=self.stage,
        )
        self._store.models.add_artifact(artifact)
        return artifact

    def log_model(
        self,
        model: object,
        name: str = "model",
        *,
        flavor: str | None = None,
        signature: Any = None,
        input_example: Any = None,
        reference_data: Any = None,
    ) -> LoggedModel:
        """Save ``model`` with its flavor, signature, example and reference data sample."""
        import tempfile

        check_name(name, "model name")
        if any(m.name == name for m in self._store.models.models_of(self.id)):
            raise ConflictError(
                f"run {self.id} already has a model named {name!r}",
                hint="give each model of a run its own name",
            )

        from conveyor.model_files import store_tree
        from conveyor.modelpack import save_model

        with tempfile.TemporaryDirectory(prefix="conveyor-model-") as tmp:
            directory = Path(tmp) / name
            info = save_model(
                model,
                directory,
                flavor=flavor,
                signature=signature,
                input_example=input_example,
                reference_data=reference_data,
            )
            hashed = store_tree(self.ctx.artifacts, directory)
        logged = LoggedModel(
            id=new_id(),
            run_id=self.id,
            name=name,
            flavor=info.flavor,
            digest=hashed.digest,
            info=info.as_dict(),
            created_at=utcnow(),
            stage=self.stage,
        )
        self._store.models.add_model(logged)
        return logged

    def end(self, status: str = "success") -> None:
        """Flush, and close the run if this process opened it."""
        self.flush()
        _OPEN.discard(self)
        if self.owned:
            self._store.runs.finish(self.id, status, utcnow())


_OPEN: weakref.WeakSet[ActiveRun] = weakref.WeakSet()
_current: ActiveRun | None = None
_current_lock = threading.Lock()


@atexit.register
def _flush_open_runs() -> None:
    for run in list(_OPEN):
        with contextlib.suppress(ConveyorError):  # exiting: nothing is left to tell
            run.end("success" if run is not _current else "failed")
    close_stores()


_CONTEXTS: dict[tuple[Settings, Path], Context] = {}
_contexts_lock = threading.Lock()


def sdk_context() -> Context:
    """The SDK's composition root: the context of this process's environment and working
    directory, built on the first call and kept, so that a process keeps one store (engine,
    connection pool) per project for its whole life."""
    from conveyor.context import Context

    found = Context.resolve(Settings.from_env())
    key = (found.settings, found.base)
    with _contexts_lock:
        return _CONTEXTS.setdefault(key, found)


def close_stores() -> None:
    """Close every store the SDK opened (for tests, and processes that switch projects)."""
    with _contexts_lock:
        contexts = list(_CONTEXTS.values())
        _CONTEXTS.clear()
    for ctx in contexts:
        ctx.close()


@contextmanager
def start_run(
    name: str | None = None, *, tags: Mapping[str, Any] | None = None
) -> Iterator[ActiveRun]:
    """Open a run for the block; inside ``conveyor run`` this is the stage's run."""
    global _current
    with _current_lock:
        if _current is not None and _current.owned:
            raise ConflictError(
                f"run {_current.id} is already active in this process",
                hint="end it first; runs do not nest",
            )
        run = _current or _attach() or _create(name)
        _current = run
    if not run.owned:  # the stage's run: it stays open after the block
        if tags:
            run.set_tags(tags)
        yield run
        run.flush()
        return
    try:
        if tags:
            run.set_tags(tags)
        yield run
    except SystemExit as exc:
        run.end("success" if exc.code in (0, None) else "failed")
        raise
    except BaseException:
        run.end("failed")
        raise
    else:
        run.end("success")
    finally:
        with _current_lock:
            _current = None


def active_run() -> ActiveRun:
    """The open run: the ``start_run`` block, or the stage ``conveyor run`` started."""
    global _current
    with _current_lock:
        if _current is None:
            _current = _attach()
        if _current is None:
            raise NoActiveRun(
                "no run is active",
                hint="wrap the code in `with conveyor.start_run():`, or run it as a stage of "
                "`conveyor run`",
            )
        return _current


def _attach(ctx: Context | None = None) -> ActiveRun | None:
    """The stage's run inside ``conveyor run`` (the runner names it in the settings)."""
    ctx = ctx or sdk_context()
    if not ctx.settings.run_id:
        return None
    _flush_on_sigterm()
    return ActiveRun(ctx.settings.run_id, ctx, ctx.settings.stage, False)


def _flush_on_sigterm() -> None:
    """``conveyor run`` ends a stage with SIGTERM on Ctrl-C: write the buffer, then die.

    Only where nobody else handles SIGTERM, and only from the main thread (a rule of
    Python's signal module).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def flush_then_die(signum: int, frame: object) -> None:
        for run in list(_OPEN):
            with contextlib.suppress(ConveyorError):
                run.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, flush_then_die)


def open_run(
    ctx: Context, name: str, kind: str, *, run_id: str | None = None, stage: str | None = None
) -> ActiveRun:
    """For Conveyor's own commands (``conveyor check``): the run ``run_id`` names (a stage's
    run inside ``conveyor run``, which stays open), else a new run of ``kind``. The caller
    calls :meth:`ActiveRun.end`."""
    if run_id:
        return ActiveRun(run_id, ctx, stage, False)
    return _create(name, kind, ctx)


def _create(name: str | None, kind: str = "script", ctx: Context | None = None) -> ActiveRun:
    from conveyor.gitinfo import recent_git_info
    from conveyor.runs import Runs

    ctx = ctx or sdk_context()
    run_id = Runs(ctx).start(recent_git_info(ctx.base), kind=kind, name=name)
    return ActiveRun(run_id, ctx, None, True)


def _plain(value: Any) -> Any:
    """numpy scalars (np.int64, np.float32, ...) as the Python numbers they hold."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def _checked_metric(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValue(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}",
            hint="log text as a tag (set_tags) or a param instead",
        )
    return float(value)


def _checked_step(step: int | None) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise InvalidValue(f"step must be a whole number >= 0, got {step!r}")
    return int(step)


def log_params(params: Mapping[str, Any]) -> None:
    """Record params on the active run."""
    active_run().log_params(params)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Record metric values on the active run (buffered; see the module docstring)."""
    active_run().log_metrics(metrics, step)


def log_metric(key: str, value: Any, step: int | None = None) -> None:
    """Record one metric value on the active run."""
    active_run().log_metrics({key: value}, step)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    active_run().set_tags(tags)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> RunArtifact:
    """Store a file or directory on the active run."""
    return active_run().log_artifact(path, name)


def log_model(
    model: object,
    name: str = "model",
    *,
    flavor: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    reference_data: Any = None,
) -> LoggedModel:
    """Save a model on the active run; see :meth:`ActiveRun.log_model`."""
    return active_run().log_model(
        model,
        name,
        flavor=flavor,
        signature=signature,
        input_example=input_example,
        reference_data=reference_data,
    )
