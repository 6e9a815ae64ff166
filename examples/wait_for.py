"""Wait until a line of FILE contains TEXT (at most SECONDS), then print that line.

Usage: python examples/wait_for.py FILE TEXT [SECONDS]; exit 1 if it never came.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main() -> None:
    path, text = Path(sys.argv[1]), sys.argv[2]
    deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 60)
    started = time.monotonic()
    while time.monotonic() < deadline:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for line in lines:
            if text in line:
                print(f"after {time.monotonic() - started:.0f} s: {line}")
                return
        time.sleep(1)
    raise SystemExit(f"no {text!r} in {path} within {sys.argv[3] if len(sys.argv) > 3 else 60} s")


if __name__ == "__main__":
    main()
