"""Send the demo's gateway real requests, one user each, and show which version answered.

Usage: python examples/canary_requests.py URL MODEL HOLDOUT.csv [REQUESTS]
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import httpx
import pandas as pd


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the gateway at {url} did not become ready in {seconds:.0f} s")


def main() -> None:
    url, model, holdout = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    wait_ready(url)
    rows = pd.read_csv(holdout).drop(columns=["target", "clinic"])
    answered: Counter[str] = Counter()
    with httpx.Client(base_url=url) as http:
        for i in range(count):
            row = rows.iloc[[i % len(rows)]]
            answer = http.post(
                f"/v1/models/{model}:predict",
                json={"instances": row.to_dict(orient="records")},
                headers={"X-Conveyor-Key": f"user-{i}"},  # sticky: one user, one version
            )
            answer.raise_for_status()
            answered[answer.headers["X-Conveyor-Model-Version"]] += 1
        again = http.post(
            f"/v1/models/{model}:predict",
            json={"instances": rows.iloc[[0]].to_dict(orient="records")},
            headers={"X-Conveyor-Key": "user-0"},
        )
    print(f"{count} requests from {count} users:")
    for version, n in sorted(answered.items()):
        print(f"  version {version}: {n} ({n / count:.0%})")
    print(
        f"user-0 again -> version {again.headers['X-Conveyor-Model-Version']} (sticky), "
        f"request id {again.headers['X-Request-ID']}, answer {again.json()}"
    )


if __name__ == "__main__":
    main()
