"""Wait until a line added to FILE from now on contains TEXT (at most SECONDS), print it.

Usage: python examples/wait_for.py FILE TEXT [SECONDS] [AT_LEAST]; exit 1 if none came in
time. Lines already in FILE when it starts do not count; with AT_LEAST, it returns no
sooner than that many seconds after it started (the line may have come before).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def main() -> None:
    path, text = Path(sys.argv[1]), sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    at_least = float(sys.argv[4]) if len(sys.argv) > 4 else 0
    started = time.monotonic()
    seen = len(lines(path))
    while time.monotonic() - started < seconds:
        found = [line for line in lines(path)[seen:] if text in line]
        if found and time.monotonic() - started >= at_least:
            print(found[0])
            return
        time.sleep(1)
    raise SystemExit(f"no new {text!r} line in {path} within {seconds:g} s")


if __name__ == "__main__":
    main()
