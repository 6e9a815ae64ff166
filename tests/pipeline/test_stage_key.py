"""The stage key: canonical (order-free) and sensitive to every input that defines it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conveyor.pipeline.lock import LockedStage, parse_lock
from conveyor.pipeline.spec import Stage
from conveyor.pipeline.state import stage_key
from conveyor.yamlio import dump

paths = st.text(alphabet="abcdefgh/._", min_size=1, max_size=12)
digests = st.binary(min_size=32, max_size=32).map(bytes.hex)
values = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.booleans())


def make_stage(cmd="python train.py", outs=("model.bin",), env=()) -> Stage:
    return Stage(name="s", cmd=cmd, deps=(), outs=outs, metrics=(), params=(), env=env)


@given(
    st.dictionaries(paths, digests, min_size=1, max_size=5),
    st.dictionaries(paths, values, max_size=5),
)
def test_key_does_not_depend_on_the_order_of_deps_or_params(deps, params):
    stage = make_stage()
    forward = stage_key(stage, {p: {"digest": d} for p, d in deps.items()}, params)
    backward = stage_key(
        stage,
        {p: {"digest": d} for p, d in reversed(deps.items())},
        dict(reversed(params.items())),
    )
    assert forward == backward


@given(st.dictionaries(paths, digests, min_size=1, max_size=5), digests)
def test_key_changes_when_any_dep_changes(deps, other):
    stage = make_stage()
    before = stage_key(stage, {p: {"digest": d} for p, d in deps.items()}, {})
    path = next(iter(deps))
    changed = {**deps, path: other}
    after = stage_key(stage, {p: {"digest": d} for p, d in changed.items()}, {})
    assert (before == after) == (deps[path] == other)


def test_key_changes_with_cmd_params_env_and_declared_outs():
    deps = {"data.csv": {"digest": "0" * 64}}
    base = stage_key(make_stage(), deps, {"lr": 0.1})
    assert stage_key(make_stage(cmd="python train.py --fast"), deps, {"lr": 0.1}) != base
    assert stage_key(make_stage(), deps, {"lr": 0.2}) != base
    assert stage_key(make_stage(env=(("SEED", "1"),)), deps, {"lr": 0.1}) != base
    assert stage_key(make_stage(outs=("model.bin", "extra.bin")), deps, {"lr": 0.1}) != base
    assert stage_key(make_stage(), deps, {"lr": 0.1}) == base


@given(st.dictionaries(paths, values, max_size=5), st.dictionaries(paths, digests, max_size=5))
def test_lock_entries_survive_a_write_and_read(params, outs):
    entry = LockedStage(
        cmd="python x.py",
        key="f" * 64,
        deps={"d": {"digest": "a" * 64, "kind": "file", "size": 1, "nfiles": 1}},
        params=params,
        outs={p: {"digest": d, "kind": "file", "size": 3, "nfiles": 1} for p, d in outs.items()},
    )
    text = dump({"schema": "1", "stages": {"s": entry.as_dict()}})
    assert parse_lock(text)["s"] == entry
