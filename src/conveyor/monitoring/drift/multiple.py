"""Multiple-testing control across every signal of every feature.

One drift report runs many tests (a distribution test and share tests per column); at
``alpha = 0.05`` and 50 independent no-drift columns, an uncorrected report would flag at
least one 92 % of the time. The adjusted p-values here are compared with ``alpha``:

- ``"bh"`` (default): Benjamini-Hochberg, the false discovery rate at ``alpha``; when nothing
  drifts at all it also holds the chance of any flag at ``alpha``. Same numbers as
  ``scipy.stats.false_discovery_control(p, method="bh")``.
- ``"bonferroni"``: ``min(1, p * m)``: the chance of any false flag at ``alpha`` whatever
  the dependence between tests, at the price of power.
- ``"none"``: the raw p-values (Evidently's behaviour), for comparison only.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

Correction = Literal["bh", "bonferroni", "none"]
CORRECTIONS: tuple[Correction, ...] = ("bh", "bonferroni", "none")


def adjust(p_values: npt.ArrayLike, method: Correction = "bh") -> npt.NDArray[np.float64]:
    """Adjusted p-values, in the order given; NaN entries (no test) stay NaN, uncounted."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    tested = ~np.isnan(p)
    m = int(tested.sum())
    if m == 0:
        return out
    values = p[tested]
    if method == "none":
        out[tested] = values
    elif method == "bonferroni":
        out[tested] = np.minimum(values * m, 1.0)
    else:
        order = np.argsort(values)
        scaled = values[order] * m / np.arange(1, m + 1)
        # Step-up: each adjusted value is the smallest scaled value at or above its rank.
        monotone = np.minimum.accumulate(scaled[::-1])[::-1]
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(monotone, 1.0)
        out[tested] = adjusted
    return out
