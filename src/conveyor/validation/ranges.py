"""How inference turns the numbers seen in a column into its ``min``/``max``.

Training data rarely holds the extremes of the data that follows (a holdout, tomorrow's
batch), so bounds exactly at the values seen fail data that is only slightly outside
them. Two tolerances, which combine:

- ``margin``: widen ``[low, high]`` by ``margin * (high - low)`` on each side;
- ``quantiles``: take ``low``/``high`` at two quantiles instead of the extremes, so one
  outlier in the training data does not set the bound. Quantiles come from a uniform
  sample of at most :data:`SAMPLE_SIZE` finite values per column (exact below that),
  kept across chunks so memory stays bounded; the sample is seeded, so inference is
  repeatable.

Integer bounds are rounded outwards and kept within the dtype's range.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["SAMPLE_SIZE", "RangeRule", "ValueSample"]

SAMPLE_SIZE = 100_000


@dataclass(frozen=True)
class RangeRule:
    """The rule for inferred bounds: quantiles (``None``: the extremes) then a margin."""

    margin: float = 0.0
    quantiles: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"the range margin must be a share >= 0, got {self.margin}")
        if self.quantiles is not None:
            low, high = self.quantiles
            if not 0 <= low < high <= 1:
                raise ValueError(f"quantiles must be 0 <= LOW < HIGH <= 1, got {low},{high}")

    def describe(self) -> str:
        """In words, for the CLI's output and the schema's header."""
        source = "the smallest and largest values seen"
        if self.quantiles is not None:
            low, high = self.quantiles
            source = f"quantiles {low:g} to {high:g} (of up to {SAMPLE_SIZE:,} values sampled)"
        if self.margin:
            source += f", widened by {self.margin * 100:g}% of each range on each side"
        return source

    def options(self) -> str:
        """The command-line options that give this rule ('' for the default)."""
        given = []
        if self.quantiles is not None:
            given.append(f"--range-quantiles {self.quantiles[0]:g},{self.quantiles[1]:g}")
        if self.margin:
            given.append(f"--range-margin {self.margin:g}")
        return " ".join(given)

    def bounds(self, low: Any, high: Any, sample: ValueSample | None) -> tuple[float, float]:
        """``[low, high]`` (the extremes seen) under this rule, before integer rounding."""
        if self.quantiles is not None and sample is not None and sample.size:
            import numpy as np

            low, high = (float(q) for q in np.quantile(sample.values(), self.quantiles))
        if not self.margin:
            return float(low), float(high)
        width = float(high) - float(low)
        return _finite(float(low) - self.margin * width), _finite(float(high) + self.margin * width)

    def int_bounds(
        self, low: Any, high: Any, sample: ValueSample | None, dtype: str
    ) -> tuple[int, int]:
        """As :meth:`bounds`, rounded outwards and clamped to ``dtype``'s range."""
        import numpy as np

        wide_low, wide_high = self.bounds(low, high, sample)
        info = np.iinfo(dtype)
        if self.quantiles is None and not self.margin:
            return int(low), int(high)  # exact: no float round trip for huge integers
        return max(int(info.min), math.floor(wide_low)), min(int(info.max), math.ceil(wide_high))


def _finite(value: float) -> float:
    """A bound widened past the largest float stays a finite (if enormous) number."""
    return max(-sys.float_info.max, min(sys.float_info.max, value))


class ValueSample:
    """A uniform sample without replacement of the values of a column, chunk by chunk.

    Each value gets a random key; the ``size`` smallest keys seen so far are kept.
    """

    def __init__(self, size: int = SAMPLE_SIZE, seed: int = 0) -> None:
        import numpy as np

        self.limit = size
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0)
        self._values = np.empty(0)

    @property
    def size(self) -> int:
        """How many values are kept."""
        return len(self._values)

    def add(self, values: npt.NDArray[Any]) -> None:
        """Take in one chunk's finite values."""
        import numpy as np

        keys = np.concatenate([self._keys, self._rng.random(len(values))])
        kept = np.concatenate([self._values, values.astype("float64")])
        if len(kept) > self.limit:
            chosen = np.argpartition(keys, self.limit)[: self.limit]
            keys, kept = keys[chosen], kept[chosen]
        self._keys, self._values = keys, kept

    def values(self) -> np.ndarray[Any, Any]:
        """The sample."""
        return self._values
