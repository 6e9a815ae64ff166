"""The checks a model version passes before it receives any user traffic.

Three checks, each on a version loaded as the gateway holds it (a :class:`Served`), each
feeding the model through the gateway's own request path (an MLflow ``/invocations`` body
parsed by :mod:`conveyor.serving.protocols` against the signature, then ``predict`` and the
gateway's finiteness check), so a signature mismatch fails here as it would in production::

    smoke          the version's stored input example -> the outputs recorded when it was
                   saved (labels exactly; floats within rtol 1e-6, atol 1e-9)
    compatibility  the STABLE version's input example (what clients send today) is accepted
                   and predicted by the candidate
    load           N single-row requests (after a warm-up) against gates.operational's p95
                   latency budget, bounded in count and in time

The load test runs in this process, not over HTTP: the gateway's own overhead is measured by
its metrics, and a check that needs a free port could fail for reasons that are not the
model's. Parsing the JSON body is timed, since every request pays it.

>>> report = pretraffic(candidate, stable=champion, budget=gates.operational)  # doctest: +SKIP
>>> report.raise_if_failed()  # PreTrafficFailed, naming each failed check  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
import warnings
from typing import TYPE_CHECKING, Any

import orjson

from conveyor.delivery.pretraffic import Check, PreTrafficReport
from conveyor.errors import ConveyorError
from conveyor.evaluation.results import Latency
from conveyor.serving import protocols
from conveyor.serving.inputs import Layout

if TYPE_CHECKING:
    from conveyor.config import OperationalGates
    from conveyor.flavors.base import Array
    from conveyor.serving.pool import Served

RTOL, ATOL = 1e-6, 1e-9  # float outputs: the same model on the same machine, a few ulps apart
REQUESTS = 200
TIME_BUDGET_S = 3.0
WARMUP = 10
MIN_SAMPLE = 20  # fewer timed requests than this give no p95 worth deciding on


def pretraffic(
    candidate: Served,
    *,
    stable: Served | None = None,
    budget: OperationalGates | None = None,
    requests: int = REQUESTS,
    time_budget_s: float = TIME_BUDGET_S,
) -> PreTrafficReport:
    """Run the smoke, compatibility and load checks on ``candidate``; see the module doc."""
    checks = (
        smoke_test(candidate),
        compatibility(candidate, stable),
        load_test(candidate, budget, requests=requests, time_budget_s=time_budget_s),
    )
    return PreTrafficReport(candidate.name, candidate.version, checks)


def smoke_test(candidate: Served) -> Check:
    """The stored input example predicts the outputs recorded when the version was saved.

    A version saved before outputs were recorded (or with a signature given) is checked for
    predictions that succeed, are finite, and have the signature's shape and dtype.
    """
    name, model = "smoke", candidate.model
    body = _example_body(candidate)
    if body is None:
        return Check(
            name,
            False,
            f"{_who(candidate)} has no input example to smoke-test",
            {"input_example": None},
        )
    try:
        actual = _predict_body(candidate, body)
    except ConveyorError as exc:
        return Check(name, False, f"{_who(candidate)} failed on its own input example: {exc}")
    expected = model.example_output()
    if expected is None:
        return _shape_check(candidate, body, actual)
    evidence: dict[str, Any] = {"rows": len(actual), "expected": "example_output.json"}
    if actual.shape != expected.shape:
        return Check(
            name,
            False,
            f"{_who(candidate)} predicted shape {list(actual.shape)} for its input example; "
            f"{list(expected.shape)} was recorded when it was saved",
            evidence,
        )
    row, tolerance = _first_difference(actual, expected)
    evidence["comparison"] = tolerance
    if row is not None:
        evidence.update(row=row, predicted=actual[row].tolist(), recorded=expected[row].tolist())
        return Check(
            name,
            False,
            f"{_who(candidate)} predicts {actual[row].tolist()!r} for row {row} of its input "
            f"example; {expected[row].tolist()!r} was recorded when it was saved "
            f"(compared {tolerance})",
            evidence,
        )
    return Check(
        name,
        True,
        f"{len(actual)} example row(s) predicted as recorded at save time ({tolerance})",
        evidence,
    )


def compatibility(candidate: Served, stable: Served | None) -> Check:
    """The candidate accepts and predicts what clients send the stable version today."""
    name = "compatibility"
    if stable is None:
        return Check(name, True, "no stable version: nothing clients send today to check")
    body = _example_body(stable)
    if body is None:
        return Check(
            name,
            True,
            f"not checked: {_who(stable)} has no input example",
            {"checked": False, "stable_version": stable.version},
        )
    evidence: dict[str, Any] = {"checked": True, "stable_version": stable.version}
    try:
        _predict_body(candidate, body)
    except ConveyorError as exc:
        column = getattr(exc, "field", None)
        evidence["column"] = column
        where = f" (column {column!r})" if column else ""
        return Check(
            name,
            False,
            f"{_who(candidate)} refuses the input example of {_who(stable)}, which is what "
            f"clients send today{where}: {exc.message}",
            evidence,
        )
    return Check(name, True, f"{_who(candidate)} accepts {_who(stable)}'s input example", evidence)


def load_test(
    candidate: Served,
    budget: OperationalGates | None,
    *,
    requests: int = REQUESTS,
    time_budget_s: float = TIME_BUDGET_S,
) -> Check:
    """Time up to ``requests`` single-row requests (stopping after ``time_budget_s``) after
    a warm-up (also stopped after ``time_budget_s``); fail when p95 is over
    ``budget.latency_p95_ms``, when fewer than 20 requests were timed, or when any fails."""
    name = "load"
    bodies = _single_rows(candidate)
    if not bodies:
        return Check(name, False, f"{_who(candidate)} has no rows to send (no example)")
    try:
        latency = _time_requests(candidate, bodies, requests, time_budget_s)
    except ConveyorError as exc:
        return Check(name, False, f"{_who(candidate)} failed a single-row request: {exc}")
    limit = budget.latency_p95_ms if budget is not None else None
    evidence = {
        "requests": latency.calls,
        "p50_ms": latency.p50_ms,
        "p95_ms": latency.p95_ms,
        "p99_ms": latency.p99_ms,
        "budget_p95_ms": limit,
        "warmup": WARMUP,
        "time_budget_s": time_budget_s,
    }
    measured = (
        f"p95 {latency.p95_ms:.3g} ms (p50 {latency.p50_ms:.3g}, p99 {latency.p99_ms:.3g}) "
        f"over {latency.calls} single-row requests"
    )
    if limit is not None and latency.p95_ms > limit:
        return Check(name, False, f"{measured} is over the budget of {limit:g} ms", evidence)
    if latency.calls < MIN_SAMPLE:
        return Check(
            name,
            False,
            f"only {latency.calls} requests fit in {time_budget_s:g} s; at least {MIN_SAMPLE} "
            "are needed to judge p95",
            evidence,
        )
    if limit is None:
        return Check(name, True, f"{measured}; gates.operational sets no p95 budget", evidence)
    return Check(name, True, f"{measured}, within the budget of {limit:g} ms", evidence)


def _who(served: Served) -> str:
    return f"model {served.name!r} version {served.version}"


def _example_body(served: Served) -> dict[str, Any] | None:
    """The stored input example as a client would send it: ``dataframe_split`` for a frame
    (the file is pandas' "split" orient already), ``instances`` for an array's rows."""
    info = served.model.info
    if info.input_example is None:
        return None
    stored = json.loads((served.model.directory / info.input_example).read_text("utf-8"))
    return {"dataframe_split": stored} if isinstance(stored, dict) else {"instances": stored}


def _single_rows(served: Served) -> list[bytes]:
    """One-row request bodies, encoded before any clock starts: from the reference data
    where it has the signature's columns, else from the input example."""
    body = _example_body(served)
    columns = served.model.signature.columns if served.model.signature else None
    reference = served.model.reference_data()
    if reference is not None and columns and set(columns) <= set(map(str, reference.columns)):
        frame = reference[columns].head(REQUESTS)
        rows = json.loads(frame.to_json(orient="split", index=False))["data"]
        return [orjson.dumps({"dataframe_split": {"columns": columns, "data": [r]}}) for r in rows]
    if body is None:
        return []
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        return [
            orjson.dumps({"dataframe_split": {"columns": split["columns"], "data": [row]}})
            for row in split["data"]
        ]
    return [orjson.dumps({"instances": [row]}) for row in body["instances"]]


def _predict_body(served: Served, body: dict[str, Any] | bytes) -> Array:
    """What the gateway's ``/invocations`` route does with ``body``, without the HTTP."""
    import numpy as np

    value = orjson.loads(body if isinstance(body, bytes) else orjson.dumps(body))
    data = protocols.parse_invocations(value, Layout.of(served.model.signature))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a library's warning per call would be timed too
        predicted = served.model.predict(data)
    protocols.check_finite(served, predicted, None)
    return predicted


def _time_requests(served: Served, bodies: list[bytes], requests: int, limit_s: float) -> Latency:
    import numpy as np

    warm_until = time.perf_counter() + limit_s  # a very slow model: at most 2 x limit_s
    for i in range(WARMUP):
        _predict_body(served, bodies[i % len(bodies)])
        if time.perf_counter() > warm_until:
            break
    elapsed: list[int] = []
    deadline = time.perf_counter() + limit_s
    while len(elapsed) < requests and time.perf_counter() < deadline:
        body = bodies[len(elapsed) % len(bodies)]
        start = time.perf_counter_ns()
        _predict_body(served, body)
        elapsed.append(time.perf_counter_ns() - start)
    p50, p95, p99 = np.percentile(np.asarray(elapsed) / 1e6, [50, 95, 99])
    return Latency(calls=len(elapsed), p50_ms=float(p50), p95_ms=float(p95), p99_ms=float(p99))


def _first_difference(actual: Array, expected: Array) -> tuple[int | None, str]:
    """The first row that differs, and how rows were compared."""
    import numpy as np

    if actual.dtype.kind == "f" or expected.dtype.kind == "f":
        same = np.isclose(actual.astype(float), expected.astype(float), rtol=RTOL, atol=ATOL)
        how = f"floats within rtol {RTOL:g}, atol {ATOL:g}"
    else:
        same = np.asarray(actual == expected)
        how = "labels exactly"
    rows = same.reshape(len(actual), -1).all(axis=1)
    return (None if rows.all() else int(np.argmin(rows))), how


def _shape_check(candidate: Served, body: dict[str, Any], actual: Array) -> Check:
    """No outputs were recorded: the predictions' shape and dtype against the signature."""
    note = "no example_output.json (saved before outputs were recorded, or with a signature)"
    evidence: dict[str, Any] = {"rows": len(actual), "expected": None, "note": note}
    signature = candidate.model.signature
    spec = signature.outputs[0] if signature and signature.outputs else None
    problems = []
    rows = len(body.get("instances") or body["dataframe_split"]["data"])
    if len(actual) != rows:
        problems.append(f"{len(actual)} rows for {rows}")
    if spec is not None and spec.shape is not None and actual.shape[1:] != spec.shape[1:]:
        problems.append(f"shape {list(actual.shape)}, the signature says {list(spec.shape)}")
    if spec is not None and _kind(spec.dtype) not in (None, actual.dtype.kind):
        problems.append(f"dtype {actual.dtype}, the signature says {spec.dtype}")
    if problems:
        return Check(
            "smoke",
            False,
            f"{_who(candidate)} predicted {'; '.join(problems)} for its input example",
            evidence,
        )
    return Check(
        "smoke",
        True,
        f"{len(actual)} example row(s) predicted, finite, of the signature's shape and dtype; "
        f"expected outputs not checked: {note}",
        evidence,
    )


def _kind(dtype: str) -> str | None:
    """numpy's kind letter for a dtype name; None for names numpy does not know."""
    import numpy as np

    try:
        return np.dtype(dtype).kind
    except TypeError:
        return None
