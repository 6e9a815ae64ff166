"""Write a drifted copy of the demo's holdout: a new scanner that reads every ``mean *``
measurement 40 % higher, the kind of change the model never saw.

Usage: python examples/drifted.py HOLDOUT.csv OUT.csv [FACTOR]
"""

from __future__ import annotations

import sys

import pandas as pd


def main() -> None:
    source, out = sys.argv[1:3]
    factor = float(sys.argv[3]) if len(sys.argv) > 3 else 1.4
    rows = pd.read_csv(source)
    scaled = [c for c in rows.columns if c.startswith("mean ")]
    rows[scaled] = rows[scaled] * factor
    rows.to_csv(out, index=False)
    print(f"{out}: {len(rows)} rows, {len(scaled)} columns x{factor:g}")


if __name__ == "__main__":
    main()
