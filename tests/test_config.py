"""``conveyor.yaml``: every mistake is reported with file, line, column and field path."""

from __future__ import annotations

import json
import posixpath
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conveyor.config import ProjectConfig, load_config
from conveyor.errors import ConfigError
from conveyor.project import PIPELINE_CACHE, Project, normalize_path, path_problem


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "conveyor.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


# --- malformed YAML ----------------------------------------------------------------------


def test_a_tab_in_the_indentation_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    message = config_error(tmp_path, "stages:\n  train:\n\tcmd: python train.py\n")

    assert message.startswith("conveyor.yaml:3:1: malformed YAML: ")
    assert "line 3:" in message  # the offending line is quoted


def test_a_bad_indentation_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        """\
        stages:
          train:
            cmd: python train.py
           deps: [data]
        """,
    )

    assert message.startswith("conveyor.yaml:4:4: malformed YAML: ")


def test_an_unclosed_flow_list_is_malformed_yaml(tmp_path: Path) -> None:
    message = config_error(tmp_path, "stages:\n  train:\n    cmd: x\n    deps: [a, b\n")

    assert re.match(r"conveyor\.yaml:\d+:\d+: malformed YAML: ", message)


# --- the shape of the file ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [("", "an empty file"), ("# only a comment\n", "an empty file"), ("- a\n- b\n", "list")],
    ids=["empty", "comment-only", "list"],
)
def test_a_file_that_is_not_a_mapping_says_what_was_found(
    tmp_path: Path, text: str, found: str
) -> None:
    message = config_error(tmp_path, text)

    assert message.startswith(
        f"conveyor.yaml: expected a mapping with a 'stages' key, found {found}"
    )
    assert "conveyor init" in message


def test_an_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*conveyor\.yaml"):
        load_config(tmp_path / "conveyor.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """\
            stages:
              train:
                cmd: python train.py
                dep: [data]
            """,
            "conveyor.yaml:4:5: stages.train.dep: unknown key (did you mean 'deps'?)",
            id="misspelt-stage-key",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: python train.py
                colour: blue
            """,
            "conveyor.yaml:4:5: stages.train.colour: unknown key (known keys: cmd, desc, deps,",
            id="unknown-stage-key",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: python train.py
            stage: {}
            """,
            "conveyor.yaml:4:1: stage: unknown key (did you mean 'stages'?)",
            id="misspelt-top-level-key",
        ),
        pytest.param(
            """\
            version: 2
            stages:
              train:
                cmd: python train.py
            """,
            "conveyor.yaml:1:1: version: unknown key (known keys: stages, validation, "
            "evaluation, gates, deploy, notify, monitor, gitignore_outs)",
            id="unknown-top-level-key",
        ),
        pytest.param(
            """\
            # a comment first
            version: 2
            """,
            "conveyor.yaml:2:1: stages: required key is missing",
            id="missing-stages",
        ),
        pytest.param(
            """\
            stages:
              train:
                deps: [data]
            """,
            "conveyor.yaml:3:5: stages.train.cmd: required key is missing",
            id="missing-cmd",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: "   "
            """,
            "conveyor.yaml:3:5: stages.train.cmd: the command is empty",
            id="blank-cmd",
        ),
        pytest.param(
            """\
            stages:
              train:
                deps: [data]
                cmd: []
            """,
            "conveyor.yaml:4:5: stages.train.cmd: the command is empty",
            id="empty-cmd-list",
        ),
        pytest.param(
            """\
            stages: {}
            """,
            "conveyor.yaml:1:1: stages: declare at least one stage",
            id="no-stages",
        ),
        pytest.param(
            """\
            stages:
              ok:
                cmd: a
              bad name:
                cmd: b
            """,
            "conveyor.yaml:4:3: stages['bad name']: stage name 'bad name' may hold only letters,",
            id="bad-stage-name",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: a
                env:
                  SEED: 42
                  LIST: [1, 2]
            """,
            "conveyor.yaml:6:7: stages.train.env.LIST: ",
            id="env-list",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: a
                env:
                  NESTED: {a: 1}
            """,
            "conveyor.yaml:5:7: stages.train.env.NESTED: ",
            id="env-mapping",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: a
                cache: sometimes
            """,
            "conveyor.yaml:4:5: stages.train.cache: ",
            id="cache-not-bool",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: a
                deps: data.csv
            """,
            "conveyor.yaml:4:5: stages.train.deps: ",
            id="deps-not-a-list",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: a
                train: b
            """,
            "conveyor.yaml:4:5: stages.train.train: unknown key",
            id="key-named-like-its-stage",
        ),
        pytest.param(
            """\
            stages:
              train:
                cmd: a
            deploy:
              judge: kayentaa
            """,
            "conveyor.yaml:5:3: deploy.judge: Input should be 'conveyor', 'kayenta' or 'flagger'",
            id="unknown-rollout-judge",
        ),
    ],
)
def test_schema_errors_name_file_line_column_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = config_error(tmp_path, text)

    assert message.startswith("invalid configuration:\n  ")
    assert expected in message


def test_union_branches_do_not_leak_into_the_field_path(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        """\
        stages:
          train:
            cmd: {run: this}
            env:
              A: [1]
        """,
    )
    lines = message.splitlines()[1:]

    assert lines
    for line in lines:
        assert re.match(
            r"  conveyor\.yaml:(3:5: stages\.train\.cmd|5:7: stages\.train\.env\.A): ", line
        )


def test_every_error_in_the_file_is_reported_each_at_its_own_line(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        """\
        stages:
          prepare:
            cmd: a
            outz: [data]
          train:
            deps: [data]
        """,
    )

    assert "conveyor.yaml:4:5: stages.prepare.outz: unknown key (did you mean 'outs'?)" in message
    assert "conveyor.yaml:6:5: stages.train.cmd: required key is missing" in message


# --- paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "bad", "problem"),
    [
        ("deps", "/etc/passwd", "is absolute"),
        ("deps", "~/data", "is absolute"),
        ("deps", "C:\\data", "is absolute"),
        ("deps", "\\\\server\\share", "is absolute"),
        ("deps", "../data", "leaves the project directory"),
        ("outs", "models/../../model.bin", "leaves the project directory"),
        ("outs", "..", "leaves the project directory"),
        ("outs", "./", "is the whole project"),
        ("metrics", "reports/..", "is the whole project"),
        ("metrics", " ", "the path is empty"),
    ],
)
def test_paths_outside_the_project_are_refused_at_their_line(
    tmp_path: Path, field: str, bad: str, problem: str
) -> None:
    message = config_error(
        tmp_path,
        f"""\
        stages:
          train:
            cmd: python train.py
            {field}:
              - fine/path
              - {json.dumps(bad)}
        """,
    )

    assert message.startswith(f"conveyor.yaml:6:9: stages.train.{field}[1]: ")
    assert problem in message
    assert "relative to the directory holding conveyor.yaml" in message


def test_a_valid_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "conveyor.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            stages:
              train:
                cmd: [python prep.py, python train.py]
                deps: [./src//train.py, data]
                params: [train.C, {other.yaml: [a.b]}]
                outs: [models/model.bin]
                metrics: [metrics.json]
                env: {SEED: 42, NAME: x, FAST: true, RATE: 0.5}
                cache: false
            """
        ),
        encoding="utf-8",
    )

    config = load_config(path)

    assert isinstance(config, ProjectConfig)
    train = config.stages["train"]
    assert train.command == "python prep.py && python train.py"
    assert train.env == {"SEED": 42, "NAME": "x", "FAST": True, "RATE": 0.5}
    assert train.cache is False


# --- path_problem and normalize_path -----------------------------------------------------

path_texts = st.one_of(
    st.text(alphabet="./\\~:aC ", max_size=16),
    st.lists(st.sampled_from(["..", ".", "a", "b.txt", "", "~", "C:", "\\", " "]), max_size=6).map(
        "/".join
    ),
    st.text(max_size=16),
)


@given(path_texts)
@example("\\etc\\passwd")
@example("./C:/Windows")
@example("a/../../b")
def test_a_path_accepted_by_path_problem_normalizes_inside_the_project(value: str) -> None:
    if path_problem(value) is not None:
        return
    normal = normalize_path(value)

    assert not normal.startswith(("/", "../", "~"))
    assert normal not in {"..", ".", ""}
    assert not re.match(r"^[A-Za-z]:/", normal)
    assert normalize_path(normal) == normal
    assert posixpath.normpath(posixpath.join("/project", normal)).startswith("/project/")


# --- Project.pipeline caching ------------------------------------------------------------

TWO_STAGES = """\
    stages:
      prepare:
        cmd: python prepare.py
        outs: [data/prepared]
      train:
        cmd: python train.py
        deps: [data/prepared]
        outs: [models/model.bin]
    """


@pytest.fixture
def forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call the result to make any parsing or validation of conveyor.yaml fail the test."""

    def parsed(*args: object, **kwargs: object) -> None:
        raise AssertionError("conveyor.yaml was parsed and validated again")

    def forbid() -> None:
        monkeypatch.setattr("conveyor.config.load_config", parsed)
        monkeypatch.setattr("conveyor.config.ProjectConfig.model_validate", parsed)
        monkeypatch.setattr("conveyor.pipeline.spec.build_pipeline", parsed)

    return forbid


def test_a_second_project_reads_the_pipeline_from_the_cache(
    make_project: Callable[..., Path], forbid_parsing: Callable[[], None]
) -> None:
    root = make_project({"conveyor.yaml": TWO_STAGES})
    first = Project(root).pipeline
    assert (root / ".conveyor" / PIPELINE_CACHE).is_file()

    forbid_parsing()
    second = Project(root).pipeline

    assert second == first
    assert second.order == ("prepare", "train")
    assert second.upstream["train"] == ("prepare",)


def test_editing_conveyor_yaml_invalidates_the_cached_pipeline(
    make_project: Callable[..., Path],
    forbid_parsing: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_project({"conveyor.yaml": TWO_STAGES})
    Project(root).pipeline  # noqa: B018 - fills the cache
    (root / "conveyor.yaml").write_text(
        textwrap.dedent(TWO_STAGES)
        + "  evaluate:\n    cmd: python evaluate.py\n    deps: [models/model.bin]\n",
        encoding="utf-8",
    )

    forbid_parsing()
    with pytest.raises(AssertionError, match="parsed and validated again"):
        Project(root).pipeline  # noqa: B018 - the stale cache must not be used
    monkeypatch.undo()
    pipeline = Project(root).pipeline

    assert pipeline.order == ("prepare", "train", "evaluate")
    assert pipeline.upstream["evaluate"] == ("train",)


def test_an_invalid_edit_is_reported_even_though_a_cache_exists(
    make_project: Callable[..., Path],
) -> None:
    root = make_project({"conveyor.yaml": TWO_STAGES})
    Project(root).pipeline  # noqa: B018 - fills the cache
    (root / "conveyor.yaml").write_text(
        textwrap.dedent(TWO_STAGES).replace("deps:", "dep:"), encoding="utf-8"
    )

    with pytest.raises(ConfigError, match=r"conveyor\.yaml:7:5: stages\.train\.dep: unknown key"):
        Project(root).pipeline  # noqa: B018


def test_a_damaged_cache_file_is_rebuilt(make_project: Callable[..., Path]) -> None:
    root = make_project({"conveyor.yaml": TWO_STAGES})
    first = Project(root).pipeline
    cache = root / ".conveyor" / PIPELINE_CACHE
    digest = json.loads(cache.read_text(encoding="utf-8"))["digest"]
    damages = [
        "{not json",
        "[]",
        '{"digest": 1}',
        json.dumps({"pipeline": {}}),
        json.dumps({"digest": digest, "pipeline": {"stages": []}}),
        json.dumps({"digest": digest, "pipeline": {"stages": {"x": {}}}}),
    ]
    for damage in damages:
        cache.write_text(damage, encoding="utf-8")

        assert Project(root).pipeline == first
        assert json.loads(cache.read_text(encoding="utf-8"))["pipeline"]["order"] == [
            "prepare",
            "train",
        ]


def test_a_params_file_outside_the_project_is_refused_at_its_line(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        """\
        stages:
          train:
            cmd: python train.py
            params:
              - train.C
              - ../secrets.yaml: [token]
        """,
    )

    assert message.startswith("conveyor.yaml:6:9: stages.train.params[1]['../secrets.yaml']: ")
    assert "leaves the project directory" in message
