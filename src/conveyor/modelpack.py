"""The on-disk model directory that every flavor shares.

::

    <dir>/conveyor-model.json   what is in the directory (format, flavor, signature, pins…)
    <dir>/model/...             the flavor's own files
    <dir>/input_example.json    a few input rows (pandas "split" orient, or a list)
    <dir>/example_output.json   what the model predicted for those rows when it was saved
    <dir>/reference.parquet     a seeded sample of the training data, for drift monitoring
    <dir>/reference-profile.json  that sample profiled (bins, counts, sketches; predictions too)
    <dir>/requirements.txt      pinned ``name==version`` lines

:func:`save_model` builds the directory under a temporary name beside the target and renames
it into place, so a failure never leaves half a model. :func:`load_model_dir` checks
``conveyor-model.json`` before it touches the flavor's files.

>>> save_model(pipe, "out/model", input_example=X.head(), reference_data=X)  # doctest: +SKIP
>>> load_model_dir("out/model").predict(X.head())  # doctest: +SKIP
array([0, 1, 1, 0, 1])
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ConflictError, ConveyorError, ModelError
from conveyor.flavors import flavor_for, get_flavor
from conveyor.flavors.base import Array, Flavor, ModelInput, Predictor, Trust, loaded
from conveyor.flavors.signature import Signature, Spec, infer_signature, is_frame
from conveyor.ids import new_id, utcnow

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LoadedModel",
    "ModelInfo",
    "Signature",
    "Spec",
    "infer_signature",
    "load_model_dir",
    "save_model",
]

FORMAT = 1
MANIFEST = "conveyor-model.json"
MODEL_DIR = "model"
EXAMPLE_FILE = "input_example.json"
EXAMPLE_OUTPUT_FILE = "example_output.json"
REFERENCE_FILE = "reference.parquet"
PROFILE_FILE = "reference-profile.json"
REQUIREMENTS_FILE = "requirements.txt"
REFERENCE_SEED = 0


@dataclass(frozen=True)
class ModelInfo:
    """What ``conveyor-model.json`` says about a model directory."""

    flavor: str
    signature: Signature | None
    requirements: Mapping[str, str]
    python: str
    created_at: str
    input_example: str | None = None
    reference_data: str | None = None
    reference_rows: int = 0
    example_output: str | None = None  # absent from directories saved before it existed
    reference_profile: str | None = None  # likewise
    format: int = field(default=FORMAT)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object written to ``conveyor-model.json``."""
        data = asdict(self)
        data["signature"] = self.signature.as_dict() if self.signature else None
        data["requirements"] = dict(self.requirements)
        return {"format": data.pop("format"), **data}

    @classmethod
    def from_dict(cls, data: object, where: Path) -> ModelInfo:
        """Validate a parsed ``conveyor-model.json``; anything off is a ModelError naming it."""
        if not isinstance(data, dict):
            raise ModelError(f"{where} must hold a JSON object, got {type(data).__name__}")
        fmt = _field(data, "format", int, where)
        if fmt != FORMAT:
            raise ModelError(
                f"{where} has format {fmt}; this Conveyor reads format {FORMAT}",
                hint="upgrade conveyor-ml" if fmt > FORMAT else None,
            )
        flavor = _field(data, "flavor", str, where)
        try:
            get_flavor(flavor)
        except ModelError as exc:
            raise ModelError(f"{where}: {exc.message}", hint=exc.hint) from exc
        signature = _field(data, "signature", dict | None, where)
        return cls(
            flavor=flavor,
            signature=Signature.from_dict(signature, where) if signature else None,
            requirements=_field(data, "requirements", dict, where),
            python=_field(data, "python", str, where),
            created_at=_field(data, "created_at", str, where),
            input_example=_file_field(data, "input_example", EXAMPLE_FILE, where),
            reference_data=_file_field(data, "reference_data", REFERENCE_FILE, where),
            reference_rows=_field(data, "reference_rows", int, where),
            example_output=_file_field(data, "example_output", EXAMPLE_OUTPUT_FILE, where)
            if "example_output" in data
            else None,
            reference_profile=_file_field(data, "reference_profile", PROFILE_FILE, where)
            if "reference_profile" in data
            else None,
        )


@dataclass(frozen=True)
class LoadedModel:
    """A model read from its directory: one ``predict`` whatever the flavor.

    Classifiers also answer :meth:`predict_proba` and :meth:`classes` where their flavor can.
    """

    directory: Path
    info: ModelInfo
    predictor: Predictor = field(repr=False)

    @property
    def signature(self) -> Signature | None:
        """The model's input and output specs, if it was saved with them."""
        return self.info.signature

    def predict(self, data: ModelInput) -> Array:
        """Predict ``data``: a DataFrame (columns matched by name) or an array."""
        conformed = self.signature.conform(data) if self.signature else data
        with _translated("predicting", self.directory):
            return self.predictor.predict(conformed)

    def predict_proba(self, data: ModelInput) -> Array | None:
        """Class probabilities for ``data``, shape (rows, classes); None if the model has none.

        Scikit-learn estimators with ``predict_proba``, xgboost and lightgbm classifiers and
        skl2onnx classifiers give them; regressors and other models answer None. The columns
        follow :meth:`classes`. ``data`` is conformed to the signature as for :meth:`predict`.
        """
        method = getattr(self.predictor, "predict_proba", None)
        if method is None:
            return None
        conformed = self.signature.conform(data) if self.signature else data
        with _translated("predicting probabilities", self.directory):
            proba: Array | None = method(conformed)
        return proba

    def classes(self) -> list[Any] | None:
        """The class labels in the column order of :meth:`predict_proba`; None where unknown."""
        method = getattr(self.predictor, "classes", None)
        if method is None:
            return None
        with _translated("reading the class labels", self.directory):
            labels: list[Any] | None = method()
        return labels

    def input_example(self) -> ModelInput | None:
        """The input example saved with the model, if any."""
        if self.info.input_example is None:
            return None
        with _translated("reading the input_example", self.directory):
            return _read_example(self.directory / self.info.input_example, self.signature)

    def example_output(self) -> Array | None:
        """What the model predicted for :meth:`input_example` when it was saved, if recorded.

        Recorded by :func:`save_model` when it inferred the signature (so it had the model
        predict); directories saved before this existed, or with a signature given, have none.
        """
        if self.info.example_output is None:
            return None
        import numpy as np

        with _translated("reading the example_output", self.directory):
            data = json.loads((self.directory / self.info.example_output).read_text("utf-8"))
            return np.asarray(data["data"], dtype=data["dtype"]).reshape(data["shape"])

    def reference_data(self) -> pd.DataFrame | None:
        """The sample of training data saved as the drift reference, if any."""
        if self.info.reference_data is None:
            return None
        import pandas as pd

        with _translated("reading the reference data", self.directory):
            return pd.read_parquet(self.directory / self.info.reference_data)


def save_model(
    model: object,
    directory: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    signature: Signature | None = None,
    input_example: ModelInput | None = None,
    reference_data: ModelInput | None = None,
    reference_rows: int = 10_000,
) -> ModelInfo:
    """Write ``model`` and what describes it into a new model ``directory``.

    The flavor is found from the model's type unless ``flavor`` names one (``"pyfunc"`` must
    be named). With an ``input_example`` and no ``signature``, the signature is inferred
    from the example and from what the saved model predicts for it. ``reference_data`` is
    sampled (seeded) down to ``reference_rows`` rows and written as Parquet, and profiled
    with what the saved model predicts for it (:mod:`conveyor.monitoring.profile`: the
    gateway's live drift counts traffic into that profile's bins).

    >>> save_model(forest, "model", input_example=X[:5], reference_data=X)  # doctest: +SKIP
    ModelInfo(flavor='sklearn', ...)
    """
    target = Path(directory)
    chosen = get_flavor(flavor) if flavor else flavor_for(model)
    if not chosen.handles(model):
        raise ModelError(
            f"the {chosen.name} flavor cannot save a {type(model).__qualname__}",
            hint="pyfunc saves objects that have a predict(data) method"
            if chosen.name == "pyfunc"
            else "leave flavor unset to choose it from the model's type",
        )
    if reference_rows < 1:
        raise ModelError(f"reference_rows must be at least 1, got {reference_rows}")
    reference = _as_frame(reference_data) if reference_data is not None else None
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.parent / f".{target.name}.tmp-{new_id()}"
    building.mkdir()
    try:
        signature, output = _save_files(building, target, model, chosen, signature, input_example)
        rows = 0
        if reference is not None:
            rows = _write_reference(building / REFERENCE_FILE, target, reference, reference_rows)
            _write_profile(building, target, chosen, signature, is_frame(reference_data))
        files = _ManifestFiles(input_example is not None, rows, output)
        info = _write_manifest(building, chosen, signature, files)
        _move_into_place(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return info


def load_model_dir(directory: str | os.PathLike[str], *, trusted: Trust = False) -> LoadedModel:
    """Read the model in ``directory``.

    ``trusted=["pkg.Type", ...]`` also loads those types from a scikit-learn file;
    ``trusted=True`` loads anything, pickled code included. Otherwise a file that needs more
    is refused with UntrustedModel naming what it holds.

    >>> load_model_dir("model").predict(X_new)  # doctest: +SKIP
    """
    root = Path(directory)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise ModelError(
            f"{root} is not a Conveyor model directory: {manifest} does not exist",
            hint="save one with conveyor.modelpack.save_model",
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{manifest} is not valid JSON: {exc}") from exc
    info = ModelInfo.from_dict(data, manifest)
    with _translated(f"loading the {info.flavor} model", root):
        predictor = get_flavor(info.flavor).load(root / MODEL_DIR, trusted=trusted)
    return LoadedModel(directory=root, info=info, predictor=predictor)


def _save_files(
    root: Path,
    target: Path,
    model: object,
    flavor: Flavor,
    signature: Signature | None,
    input_example: ModelInput | None,
) -> tuple[Signature | None, bool]:
    """Write the flavor's files and the example; return the signature, inferred if need be,
    and whether ``example_output.json`` was written."""
    (root / MODEL_DIR).mkdir()
    with _translated(f"saving the {flavor.name} model", target):
        flavor.save(model, root / MODEL_DIR, input_example=input_example)
    if input_example is None:
        return signature, False
    _write_example(root / EXAMPLE_FILE, target, input_example)
    if signature is not None:
        return signature, False
    # Only the pickle flavor needs trust, and its file is the caller's own object just
    # written; every other flavor loads under the same rules as load_model_dir.
    trusted = flavor.name == "pyfunc"
    with _translated("predicting the input_example with the saved model", target):
        predictor = flavor.load(root / MODEL_DIR, trusted=trusted)
        signature = infer_signature(input_example, predictor.predict(input_example))
        # The expected outputs are those of the example as stored (JSON keeps 10 decimals),
        # which is what a pre-traffic smoke test sends; the in-memory one may differ a hair.
        stored = signature.conform(_read_example(root / EXAMPLE_FILE, signature))
        written = _write_example_output(root / EXAMPLE_OUTPUT_FILE, predictor.predict(stored))
    return signature, written


@dataclass(frozen=True)
class _ManifestFiles:
    """Which optional files the directory holds."""

    example: bool
    reference_rows: int
    example_output: bool


def _write_manifest(
    root: Path, flavor: Flavor, signature: Signature | None, files: _ManifestFiles
) -> ModelInfo:
    """Write ``requirements.txt`` and ``conveyor-model.json``; return what the latter says."""
    requirements = _requirements(flavor)
    lines = "".join(f"{name}=={version}\n" for name, version in sorted(requirements.items()))
    (root / REQUIREMENTS_FILE).write_text(lines, encoding="utf-8")
    info = ModelInfo(
        flavor=flavor.name,
        signature=signature,
        requirements=requirements,
        python=platform.python_version(),
        created_at=utcnow().isoformat(),
        input_example=EXAMPLE_FILE if files.example else None,
        reference_data=REFERENCE_FILE if files.reference_rows else None,
        reference_rows=files.reference_rows,
        example_output=EXAMPLE_OUTPUT_FILE if files.example_output else None,
        reference_profile=PROFILE_FILE if files.reference_rows else None,
    )
    (root / MANIFEST).write_text(json.dumps(info.as_dict(), indent=2) + "\n", encoding="utf-8")
    return info


def _requirements(flavor: Flavor) -> dict[str, str]:
    """The flavor's pins, plus numpy and pandas (what predict's inputs come as) if installed."""
    pins = flavor.requirements()
    for name in ("numpy", "pandas"):
        with suppress(importlib.metadata.PackageNotFoundError):
            pins[name] = importlib.metadata.version(name)
    return pins


def _write_example(path: Path, target: Path, example: ModelInput) -> None:
    """The example as JSON: a DataFrame in "split" orient without its index, else a list."""
    with _translated("writing the input_example", target):
        if is_frame(example):
            text = example.to_json(orient="split", index=False)  # type: ignore[union-attr]
        else:
            import numpy as np

            text = json.dumps(np.asarray(example).tolist())
        path.write_text(text, encoding="utf-8")


def _read_example(path: Path, signature: Signature | None) -> ModelInput:
    """The stored example: a DataFrame with the signature's dtypes, or an array."""
    import numpy as np
    import pandas as pd

    data = json.loads(path.read_text("utf-8"))
    if not isinstance(data, dict):
        return np.asarray(data)
    frame = pd.DataFrame(data["data"], columns=data["columns"])
    if signature and signature.columns == list(frame.columns):
        with suppress(TypeError, ValueError):  # JSON lost the dtype; the signature has it
            frame = frame.astype({spec.name: spec.dtype for spec in signature.inputs})
    return frame


def _write_example_output(path: Path, output: Array) -> bool:
    """Write the predictions as ``{"dtype", "shape", "data"}``; False (nothing written) for
    outputs JSON cannot carry exactly (NaN, infinities, objects)."""
    import numpy as np

    array = np.asarray(output)
    try:
        text = json.dumps(
            {"dtype": str(array.dtype), "shape": list(array.shape), "data": array.tolist()},
            allow_nan=False,
        )
    except (TypeError, ValueError):
        return False
    path.write_text(text, encoding="utf-8")
    return True


def _as_frame(data: object) -> pd.DataFrame:
    """Reference data as a DataFrame: as given, or an array's columns named "0", "1"…"""
    if is_frame(data):
        return data
    numpy = loaded("numpy")
    if numpy is not None and isinstance(data, numpy.ndarray) and data.ndim in (1, 2):
        import pandas as pd

        return pd.DataFrame(data.reshape(len(data), -1))
    raise ModelError(
        "reference_data must be a pandas DataFrame or a 1-D/2-D numpy array, "
        f"got {type(data).__name__}"
    )


def _write_reference(path: Path, target: Path, frame: pd.DataFrame, rows: int) -> int:
    """Write a seeded sample of at most ``rows`` rows of ``frame``; return how many."""
    import numpy as np

    if len(frame) > rows:
        picked = np.random.default_rng(REFERENCE_SEED).choice(len(frame), rows, replace=False)
        frame = frame.iloc[np.sort(picked)]
    frame = frame.reset_index(drop=True).rename(columns=str)
    with _translated("writing the reference data as Parquet", target):
        frame.to_parquet(path, index=False)
    return len(frame)


def _write_profile(
    root: Path, target: Path, flavor: Flavor, signature: Signature | None, frame: bool
) -> None:
    """Profile the stored reference sample and the saved model's predictions on it: in the
    signature's columns if it names them, else as it was given (``frame``: a DataFrame,
    else a 2-D array). A model that cannot predict it still gets the inputs' profile, with
    the reason."""
    import pandas as pd

    from conveyor.monitoring.profile import build_profile

    reference = pd.read_parquet(root / REFERENCE_FILE)
    predictions, note = None, ""
    try:
        with _translated("predicting the reference data with the saved model", target):
            predictor = flavor.load(root / MODEL_DIR, trusted=flavor.name == "pyfunc")
            named = signature is not None and signature.columns is not None
            data = signature.conform(reference) if signature and named else reference
            predictions = predictor.predict(data if named or frame else reference.to_numpy())
    except ConveyorError as exc:
        note = f"the model could not predict its reference data: {exc.message}"
    with _translated("writing the reference profile", target):
        profile = build_profile(reference, predictions, prediction_note=note)
        (root / PROFILE_FILE).write_text(profile.to_json(), encoding="utf-8")


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConflictError(
            f"{target} already exists and is not an empty directory",
            hint="save the model into a new directory",
        )


def _move_into_place(building: Path, target: Path) -> None:
    """Rename the finished directory onto ``target`` (absent or empty) in one step."""
    try:
        os.rename(building, target)
    except OSError as exc:
        raise ConflictError(f"cannot move the saved model into {target}: {exc}") from exc


@contextmanager
def _translated(action: str, where: Path) -> Iterator[None]:
    """The one place where model libraries' errors become ModelError."""
    try:
        yield
    except ConveyorError:
        raise
    except ImportError as exc:
        missing = exc.name or f"a library ({exc})"  # xgboost names sklearn only in its text
        raise ModelError(
            f"{action} ({where}) needs {missing}, which is not installed",
            hint="pip install 'conveyor-ml[models]'",
        ) from exc
    except Exception as exc:
        raise ModelError(f"{action} failed ({where}): {type(exc).__name__}: {exc}") from exc


def _field(data: dict[str, Any], key: str, kind: Any, where: Path) -> Any:
    if key not in data:
        raise ModelError(f"{where} lacks the key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ModelError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _file_field(data: dict[str, Any], key: str, expected: str, where: Path) -> str | None:
    value = _field(data, key, str | None, where)
    if value not in (None, expected):
        raise ModelError(f"{where}: {key!r} must be {expected!r} or null, got {value!r}")
    return value  # type: ignore[no-any-return]
