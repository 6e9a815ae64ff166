"""ONNX models, run with onnxruntime; :func:`convert_sklearn` makes one from scikit-learn.

Predict feeds the graph's first input (a 2-D tensor, float32 unless the graph declares
another element type) and returns its first output: the label for a converted classifier,
the value for a regressor.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ModelError
from conveyor.flavors.base import Array, ModelInput, Predictor, as_matrix, loaded, versions

if TYPE_CHECKING:
    import onnx

FILE = "model.onnx"
# onnxruntime's names for input element types → numpy dtypes.
INPUT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}


class _Session:
    """An onnxruntime session that predicts from its first input to its first output."""

    def __init__(self, session: Any) -> None:
        self.session = session
        first = session.get_inputs()[0]
        self.input_name: str = first.name
        self.dtype = INPUT_DTYPES.get(first.type, "float32")
        self.output_name: str = session.get_outputs()[0].name

    def predict(self, data: ModelInput) -> Array:
        """Run the graph on ``data`` and return its first output."""
        feed = {self.input_name: as_matrix(data, self.dtype)}
        result: Array = self.session.run([self.output_name], feed)[0]
        return result


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

    def load(self, directory: Path, *, trusted: bool = False) -> Predictor:
        """An ``onnxruntime.InferenceSession`` on the CPU."""
        import onnxruntime

        session = onnxruntime.InferenceSession(
            str(directory / FILE), providers=["CPUExecutionProvider"]
        )
        return _Session(session)

    def requirements(self) -> dict[str, str]:
        """onnxruntime (the ``onnx`` package is only needed to save)."""
        return versions("onnxruntime")


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
