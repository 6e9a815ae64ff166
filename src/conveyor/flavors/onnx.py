"""ONNX models, run with onnxruntime; :func:`convert_sklearn` makes one from scikit-learn.

Predict feeds the graph's first input (a 2-D tensor, float32 unless the graph declares
another element type) and returns its first output: the label for a converted classifier,
the value for a regressor.

A classifier converted by skl2onnx has a second output with the class probabilities, either
a plain (rows, classes) tensor or, with skl2onnx's default ZipMap, one ``{label: p}`` map per
row; ``predict_proba`` returns it as a matrix. The class labels (the column order) are read
from the graph's classifier node when the model is saved and kept in ``flavor.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ModelError
from conveyor.flavors.base import Array, ModelInput, Predictor, Trust, as_matrix, loaded, versions

if TYPE_CHECKING:
    import onnx

FILE = "model.onnx"
META = "flavor.json"
# onnxruntime's names for input element types → numpy dtypes.
INPUT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}
# Output types that hold probabilities: a float tensor, or ZipMap's sequence of maps.
PROBA_TYPES = ("tensor(float)", "tensor(double)", "seq(map(")
# The attributes in which ai.onnx.ml classifier nodes (and ZipMap) list their class labels.
LABEL_ATTRIBUTES = ("classlabels_ints", "classlabels_int64s", "classlabels_strings")


class _Session:
    """An onnxruntime session that predicts from its first input to its first output."""

    def __init__(self, session: Any, classes: list[Any] | None = None) -> None:
        self.session = session
        first = session.get_inputs()[0]
        self.input_name: str = first.name
        self.dtype = INPUT_DTYPES.get(first.type, "float32")
        outputs = session.get_outputs()
        self.output_name: str = outputs[0].name
        self.proba_name: str | None = None
        if len(outputs) > 1 and outputs[1].type.startswith(PROBA_TYPES):
            self.proba_name = outputs[1].name
        self.classes_ = classes

    def predict(self, data: ModelInput) -> Array:
        """Run the graph on ``data`` and return its first output."""
        result: Array = self._run(self.output_name, data)
        return result

    def predict_proba(self, data: ModelInput) -> Array | None:
        """The second output as a (rows, classes) matrix; None if the graph has no such output."""
        if self.proba_name is None:
            return None
        import numpy as np

        result = self._run(self.proba_name, data)
        if isinstance(result, list):  # ZipMap: one {label: probability} per row
            return np.array([list(row.values()) for row in result], dtype=np.float64)
        proba: Array = np.asarray(result)
        return proba

    def classes(self) -> list[Any] | None:
        """The labels of the classifier node, as read from the graph when it was saved."""
        return self.classes_

    def _run(self, output: str, data: ModelInput) -> Any:
        feed = {self.input_name: as_matrix(data, self.dtype)}
        return self.session.run([output], feed)[0]


class OnnxFlavor:
    """``onnx.ModelProto`` graphs, executed on onnxruntime's CPU provider."""

    name = "onnx"

    def handles(self, model: object) -> bool:
        """True for an ``onnx.ModelProto``."""
        onnx_module = loaded("onnx")
        return onnx_module is not None and isinstance(model, onnx_module.ModelProto)

    def save(
        self, model: object, directory: Path, *, input_example: ModelInput | None = None
    ) -> None:
        """``onnx.save_model`` after ``onnx.checker`` accepts the graph."""
        import onnx

        onnx.checker.check_model(model)  # type: ignore[arg-type]
        onnx.save_model(model, directory / FILE)  # type: ignore[arg-type]
        meta = {"classes": _class_labels(model)}  # type: ignore[arg-type]
        (directory / META).write_text(json.dumps(meta), encoding="utf-8")

    def load(self, directory: Path, *, trusted: Trust = False) -> Predictor:
        """An ``onnxruntime.InferenceSession`` on the CPU."""
        import onnxruntime

        session = onnxruntime.InferenceSession(
            str(directory / FILE), providers=["CPUExecutionProvider"]
        )
        meta = directory / META  # absent in models saved before probabilities were kept
        classes = json.loads(meta.read_text("utf-8"))["classes"] if meta.is_file() else None
        return _Session(session, classes)

    def requirements(self) -> dict[str, str]:
        """onnxruntime (the ``onnx`` package is only needed to save)."""
        return versions("onnxruntime")


def _class_labels(model: onnx.ModelProto) -> list[Any] | None:
    """The class labels of the graph's last classifier node, or None for a non-classifier."""
    import onnx

    labels = None
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in LABEL_ATTRIBUTES and (attribute.ints or attribute.strings):
                values = onnx.helper.get_attribute_value(attribute)
                labels = [v.decode("utf-8") if isinstance(v, bytes) else int(v) for v in values]
    return labels


def convert_sklearn(model: object, input_example: ModelInput) -> onnx.ModelProto:
    """Convert a fitted scikit-learn model to ONNX with skl2onnx.

    The graph takes one float32 input named ``input`` with as many columns as
    ``input_example``; a classifier's probabilities come out as a plain tensor (no ZipMap),
    after the label.

    >>> proto = convert_sklearn(fitted_pipeline, X_train.head())  # doctest: +SKIP
    >>> save_model(proto, "model-dir", input_example=X_train.head())  # doctest: +SKIP
    """
    import skl2onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    columns = as_matrix(input_example).shape[1]
    try:
        proto: onnx.ModelProto = skl2onnx.convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, columns]))],
            options={"zipmap": False} if is_classifier(model) else None,
        )
    except Exception as exc:  # skl2onnx raises many kinds; all mean "cannot convert"
        raise ModelError(
            f"skl2onnx cannot convert {type(model).__name__} to ONNX: {exc}",
            hint="save it with the sklearn flavor instead",
        ) from exc
    return proto
