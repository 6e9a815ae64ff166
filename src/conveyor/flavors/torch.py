"""PyTorch modules, exported with ``torch.export`` (the optional ``torch`` extra).

TorchScript (``torch.jit.script``/``trace``/``save``/``load``) is deprecated in torch 2.13
and warns on every call, so Conveyor uses its successor: an ``nn.Module`` is exported with
``torch.export.export`` on the ``input_example`` (batch dimension left dynamic), in eval
mode, and written with ``torch.export.save`` as ``model.pt2``; an ``ExportedProgram`` the
user made is saved as it is. Loading uses ``torch.export.load``, which restores the graph and
its weights without unpickling code.

Predict turns a DataFrame or array into a float32 tensor, runs the program under
``torch.inference_mode()`` and returns its (first) output as a numpy array.

``torch`` is imported only when a torch model is saved or loaded; without it installed,
:meth:`TorchFlavor.handles` is simply False.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import ModelError
from conveyor.flavors.base import Array, ModelInput, Predictor, Trust, as_matrix, loaded, versions

if TYPE_CHECKING:
    import torch

FILE = "model.pt2"


class _Program:
    """An exported program's module, fed float32 tensors."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def predict(self, data: ModelInput) -> Array:
        """The module's output for ``data``, as numpy."""
        import torch

        with torch.inference_mode():
            output = self.module(_tensor(data))
        if isinstance(output, tuple | list):
            output = output[0]
        result: Array = output.detach().cpu().numpy()
        return result


class TorchFlavor:
    """``torch.nn.Module`` (exported on save) and ``torch.export.ExportedProgram``."""

    name = "torch"

    def handles(self, model: object) -> bool:
        """True for a torch module or exported program; False when torch is not loaded."""
        torch_module = loaded("torch")
        if torch_module is None:
            return False
        return isinstance(model, torch_module.nn.Module | torch_module.export.ExportedProgram)

    def save(
        self, model: object, directory: Path, *, input_example: ModelInput | None = None
    ) -> None:
        """Export (if needed) and ``torch.export.save`` the program."""
        import torch

        program = model
        if not isinstance(model, torch.export.ExportedProgram):
            if input_example is None:
                raise ModelError(
                    "a torch module needs an input_example to be saved: torch.export traces "
                    "the module on it",
                    hint="pass input_example=X[:5], or export it yourself and pass the "
                    "ExportedProgram",
                )
            program = _export(model, input_example)  # type: ignore[arg-type]
        torch.export.save(program, directory / FILE)  # type: ignore[arg-type]

    def load(self, directory: Path, *, trusted: Trust = False) -> Predictor:
        """``torch.export.load`` and take the program's module."""
        import torch

        return _Program(torch.export.load(directory / FILE).module())

    def requirements(self) -> dict[str, str]:
        """torch."""
        return versions("torch")


def _export(module: torch.nn.Module, input_example: ModelInput) -> torch.export.ExportedProgram:
    """Export ``module`` in eval mode on ``input_example`` with a dynamic batch dimension."""
    import torch

    example = _tensor(input_example)
    if example.shape[0] < 2:  # torch specialises a batch of 1 to a constant; trace with 2
        example = example.repeat(2, 1)
    batch = torch.export.Dim.DYNAMIC
    was_training = module.training
    module.eval()
    try:
        return torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    finally:
        module.train(was_training)


def _tensor(data: ModelInput) -> torch.Tensor:
    """``data`` as a float32 tensor (copied if numpy's array is read-only, as pandas' can be)."""
    import numpy as np
    import torch

    return torch.from_numpy(np.require(as_matrix(data, "float32"), requirements="W"))
