"""Time `conveyor validate` on 1,000,000 rows x 20 columns, against pandera alone.

Usage, from the repository root::

    .venv/bin/python bench/validation_bench.py              # 1,000,000 rows (about 1-2 min)
    .venv/bin/python bench/validation_bench.py --rows 200000

Generates a data set (8 float, 5 int, 4 low-cardinality text, 2 categorical columns and a
unique integer id) into a temporary directory, as CSV and as Parquet, infers a schema from
each with ``conveyor validate --infer``, then measures, each in a fresh process (wall time
and peak RSS, from ``os.wait4``):

- **pandera alone**, the floor: the file loaded whole into memory (pandas ``read_csv`` /
  ``read_parquet``), then ``DataFrameSchema.validate(frame, lazy=True)`` with the compiled
  schema (dtypes included); the load and the validation are timed apart;
- **conveyor validate** end to end: the CLI as a user runs it (start-up and imports
  included), at the default chunk size and at smaller and larger ones, to show that memory
  follows the chunk size, not the file.

Every measured command is started from this process, which imports no pandas: Linux keeps
a process's peak RSS across ``exec``, so a big parent would inflate every child's figure.
Prints a markdown table; the temporary directory is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONVEYOR = Path(sys.executable).parent / "conveyor"


def generate(rows: int, seed: int = 0) -> Any:
    """The benchmark's data: 20 columns of the kinds a training set holds."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"id": np.arange(rows, dtype="int64")}
    for i in range(8):
        columns[f"f{i}"] = rng.normal(50, 10, rows).round(4)
    for i in range(5):
        columns[f"i{i}"] = rng.integers(0, 10_000, rows)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
    for i in range(4):
        columns[f"s{i}"] = pd.Series(words[rng.integers(0, len(words), rows)], dtype="str")
    for i in range(2):
        columns[f"c{i}"] = pd.Categorical(words[rng.integers(0, 3, rows)])
    return pd.DataFrame(columns)


def measure(args: list[str]) -> tuple[float, float, str]:
    """Run ``args``; its wall time (s), peak RSS (MB) and stdout."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(args)} exited with {code}:\n{text}")
    return wall, usage.ru_maxrss / 1024, text


def write_files(directory: str, rows: str) -> None:
    """Child process: generate the data and write it as CSV and Parquet."""
    frame = generate(int(rows))
    frame.to_csv(Path(directory) / "data.csv", index=False)
    frame.to_parquet(Path(directory) / "data.parquet", row_group_size=100_000)


def floor(data: str, schema: str) -> None:
    """Child process: load the file whole, then time pandera's validation alone."""
    import pandas as pd

    from conveyor.validation import load_schema
    from conveyor.validation.compile import compile_schema

    compiled = compile_schema(load_schema(Path(schema)))
    started = time.perf_counter()
    frame = pd.read_csv(data) if data.endswith(".csv") else pd.read_parquet(data)
    loaded = time.perf_counter()
    compiled.pandera.validate(frame, lazy=True)
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"load": loaded - started, "validate": done - loaded, "rss": peak}))


def run(rows: int) -> None:
    """Generate, measure, print the table."""
    results: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="conveyor-validation-bench-") as tmp:
        started = time.perf_counter()
        measure([sys.executable, __file__, "--write", tmp, str(rows)])
        paths = {"csv": Path(tmp) / "data.csv", "parquet": Path(tmp) / "data.parquet"}
        sizes = {fmt: path.stat().st_size / 1e6 for fmt, path in paths.items()}
        print(
            f"generated {rows:,} rows x 20 columns in {time.perf_counter() - started:.1f} s "
            f"(CSV {sizes['csv']:.0f} MB, Parquet {sizes['parquet']:.0f} MB)",
            file=sys.stderr,
        )
        imports = (
            "import conveyor.cli.main, conveyor.validation.check, pandera.pandas, pyarrow.parquet"
        )
        wall, rss, _ = measure([sys.executable, "-c", imports])
        results.append(
            ("-", "imports alone (baseline of the CLI)", "-", f"{wall:.2f}", f"{rss:.0f}")
        )
        for fmt, path in paths.items():
            schema = Path(tmp) / f"{fmt}.yaml"
            wall, rss, _ = measure(
                [str(CONVEYOR), "validate", "--infer", str(path), "-o", str(schema)]
            )
            results.append(
                (fmt, "conveyor validate --infer", "250,000", f"{wall:.2f}", f"{rss:.0f}")
            )
            wall, rss, text = measure([sys.executable, __file__, "--floor", str(path), str(schema)])
            timed = json.loads(text.strip().splitlines()[-1])
            results.append(
                (fmt, "pandas load (floor, whole file)", "-", f"{timed['load']:.2f}", "-")
            )
            results.append(
                (
                    fmt,
                    "pandera validate (floor, loaded frame)",
                    "-",
                    f"{timed['validate']:.2f}",
                    f"{timed['rss']:.0f}",
                )
            )
            for chunk in (rows, 250_000, 50_000):
                wall, rss, _ = measure(
                    [
                        str(CONVEYOR),
                        "validate",
                        str(path),
                        "--schema",
                        str(schema),
                        "--chunk-rows",
                        str(chunk),
                    ]
                )
                results.append(
                    (
                        fmt,
                        "conveyor validate (end to end)",
                        f"{chunk:,}",
                        f"{wall:.2f}",
                        f"{rss:.0f}",
                    )
                )
            print(f"{fmt} done", file=sys.stderr)
    print("| format | what | chunk rows | wall s | peak RSS MB |\n| --- | --- | --- | --- | --- |")
    for row in results:
        print("| " + " | ".join(row) + " |")
    print(
        f"\n{rows:,} rows x 20 columns; {os.cpu_count()} cores; Python "
        f"{sys.version.split()[0]}. The floor's RSS includes the loaded frame; `conveyor "
        "validate` includes start-up and imports (the baseline row)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--floor", nargs=2, metavar=("DATA", "SCHEMA"), help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("DIR", "ROWS"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.floor:
        floor(*options.floor)
    elif options.write:
        write_files(*options.write)
    else:
        run(options.rows)


if __name__ == "__main__":
    main()
