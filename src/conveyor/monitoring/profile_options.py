"""How ``conveyor serve`` profiles live traffic: the options alone, importable anywhere.

Kept apart from :mod:`conveyor.monitoring.profiler` because the server reads them in every
process, a packaged bundle's included, and the profiler brings the drift statistics (and
scipy) with it, which a bundle of an ONNX model does not install.
"""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.errors import InvalidValue

WINDOW_S = 60
MAX_WINDOW_S = 3600
"""The longest profile window a gateway may cut: how far before a range the reader looks
for windows that started earlier and still overlap it."""
MAX_FEATURES = 100


@dataclass(frozen=True)
class ProfileOptions:
    """How ``conveyor serve`` profiles live traffic (``enabled=False``: not at all).

    ``mask``: features whose values must not be kept (the prediction log's ``--log-mask``):
    they are counted in the reference's bins, but get no sketch (sketches keep values).
    """

    enabled: bool = True
    window_s: int = WINDOW_S
    max_features: int = MAX_FEATURES
    mask: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.window_s <= MAX_WINDOW_S:
            raise InvalidValue(
                f"the profile window is {self.window_s} s; it must be 1 to {MAX_WINDOW_S} s"
            )
        if self.max_features < 1:
            raise InvalidValue(
                f"profiles need at least one feature per model, got {self.max_features}"
            )
