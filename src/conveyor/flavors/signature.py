"""A model's signature: the names, dtypes and shapes of what goes in and what comes out.

A DataFrame gives one *column* spec per column (its name and dtype, no shape); an array gives
one *tensor* spec (no name, its dtype and its shape with ``-1`` for the batch dimension)::

    DataFrame {age: int64, city: str}  →  [{"name": "age", "dtype": "int64", "shape": null},
                                            {"name": "city", "dtype": "str", "shape": null}]
    ndarray float32 (5, 30)            →  [{"name": null, "dtype": "float32", "shape": [-1, 30]}]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.errors import ModelError
from conveyor.flavors.base import ModelInput, loaded


@dataclass(frozen=True)
class Spec:
    """One input or output: a named column or an unnamed tensor.

    ``optional`` inputs may hold missing values (null, NaN); the gateway refuses them in any
    other input. It is inferred true when the input example has a missing value there.
    """

    name: str | None
    dtype: str
    shape: tuple[int, ...] | None = None
    optional: bool = False

    def as_dict(self) -> dict[str, Any]:
        """``{"name", "dtype", "shape"}`` with the shape as a list (or null), and
        ``"optional": true`` for an input that may hold missing values."""
        shape = list(self.shape) if self.shape is not None else None
        found: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": shape}
        if self.optional:
            found["optional"] = True
        return found

    @classmethod
    def from_dict(cls, data: object, where: Path | str) -> Spec:
        """Read back :meth:`as_dict`; a malformed spec is a ModelError naming ``where``."""
        ok = isinstance(data, dict) and isinstance(data.get("dtype"), str)
        if ok and isinstance(data, dict):
            name, shape = data.get("name"), data.get("shape")
            optional = data.get("optional", False)
            if (
                (name is None or isinstance(name, str))
                and (
                    shape is None
                    or (isinstance(shape, list) and all(isinstance(d, int) for d in shape))
                )
                and isinstance(optional, bool)
            ):
                shape = tuple(shape) if shape is not None else None
                return cls(name, data["dtype"], shape, optional)
        raise ModelError(f"{where}: malformed signature entry {data!r}")


@dataclass(frozen=True)
class Signature:
    """The inputs a model takes and the outputs it gives."""

    inputs: tuple[Spec, ...]
    outputs: tuple[Spec, ...] = ()

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        """``{"inputs": [...], "outputs": [...]}``."""
        return {
            "inputs": [spec.as_dict() for spec in self.inputs],
            "outputs": [spec.as_dict() for spec in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: object, where: Path | str) -> Signature:
        """Read back :meth:`as_dict`."""
        if not isinstance(data, dict) or not isinstance(data.get("inputs"), list):
            raise ModelError(f"{where}: a signature needs a list of inputs, got {data!r}")
        outputs = data.get("outputs") or []
        if not isinstance(outputs, list):
            raise ModelError(f"{where}: signature outputs must be a list, got {outputs!r}")
        return cls(
            inputs=tuple(Spec.from_dict(spec, where) for spec in data["inputs"]),
            outputs=tuple(Spec.from_dict(spec, where) for spec in outputs),
        )

    @property
    def columns(self) -> list[str] | None:
        """The input column names, or None if the model takes a tensor."""
        names = [spec.name for spec in self.inputs]
        if not names or any(name is None for name in names):
            return None
        return [str(name) for name in names]

    def conform(self, data: ModelInput) -> ModelInput:
        """``data`` arranged as the model expects it.

        For a model with named input columns, a DataFrame's columns are put in signature
        order (extra columns are dropped, missing ones are an error) and a 2-D array with the
        right number of columns gets the names; anything else is passed on unchanged.
        """
        columns = self.columns
        if columns is None:
            return data
        if is_frame(data):
            return _select(data, columns)
        if getattr(data, "ndim", 0) == 2 and data.shape[1] == len(columns):
            import pandas as pd

            return pd.DataFrame(data, columns=columns)
        return data


def infer_signature(input_example: ModelInput, output: object = None) -> Signature:
    """The signature of a model that takes ``input_example`` and answers ``output``.

    >>> sig = infer_signature(pd.DataFrame({"x": [1.5], "ok": [True]}), np.array([1]))
    >>> [(spec.name, spec.dtype) for spec in sig.inputs]  # doctest: +SKIP
    [('x', 'float64'), ('ok', 'bool')]
    """
    outputs = specs(output, "the output") if output is not None else ()
    return Signature(inputs=specs(input_example, "the input_example"), outputs=outputs)


def specs(data: object, what: str) -> tuple[Spec, ...]:
    """Column specs for a DataFrame, one tensor spec for an array or a Series."""
    pandas = loaded("pandas")
    if is_frame(data) and pandas is not None:
        missing = data.isna().any()  # type: ignore[attr-defined]
        return tuple(
            Spec(str(name), str(dtype), optional=bool(missing[name]))
            for name, dtype in data.dtypes.items()  # type: ignore[attr-defined]
        )
    if pandas is not None and isinstance(data, pandas.Series):
        data = data.to_numpy()
    numpy = loaded("numpy")
    if numpy is not None and isinstance(data, numpy.ndarray) and data.ndim >= 1:
        optional = bool(pandas is not None and pandas.isna(data).any())
        return (Spec(None, str(data.dtype), (-1, *data.shape[1:]), optional),)
    raise ModelError(
        f"{what} must be a pandas DataFrame or a numpy array, got {type(data).__name__}"
    )


def is_frame(data: object) -> bool:
    """Whether ``data`` is a pandas DataFrame (without importing pandas to find out)."""
    pandas = loaded("pandas")
    return pandas is not None and isinstance(data, pandas.DataFrame)


def _select(frame: Any, columns: list[str]) -> Any:
    by_name = {str(column): column for column in frame.columns}
    missing = [name for name in columns if name not in by_name]
    if missing:
        raise ModelError(
            f"the input lacks {len(missing)} column(s) the model's signature requires: "
            f"{missing[:10]}",
            hint=f"the model takes the columns {columns[:20]}",
        )
    if list(by_name) == columns:
        return frame
    return frame[[by_name[name] for name in columns]]
