"""Property tests of the run directory store (`run.directory`): append, read, crash, resume.

A crash is modelled as the file cut at any byte: the records whose lines were written whole
survive, at most one line is torn. Whatever the cut, reading never fails, a resume appends
exactly the missing episodes, and the result is the full set with none lost or repeated.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gato_eval.core.durable import append_json_line, read_json_lines
from gato_eval.core.errors import GatoEvalError
from gato_eval.run.directory import EPISODES_FILE, EpisodeWriter, create_run, load_run

TASKS = ["atari-pong", "dmc-cartpole-balance", "babyai-go-to-local"]
PLANNED = 6  # episodes per task
SETTINGS = settings(
    deadline=None,  # file I/O with fsync on a shared machine
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def records(draw) -> list[dict]:
    """Episode records for distinct (task, episode) pairs, in a random finishing order."""
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(TASKS), st.integers(0, PLANNED - 1)),
            unique=True,
            max_size=len(TASKS) * PLANNED,
        )
    )
    out = []
    for task, episode in keys:
        failed = draw(st.booleans())
        out.append(
            {
                "task": task,
                "episode": episode,
                "seed": draw(st.integers(0, 2**31 - 1)),
                "return": 0.0 if failed else draw(finite),
                "length": draw(st.integers(0, 10**6)),
                "success": None if failed else draw(st.none() | st.booleans()),
                "status": "failed" if failed else "ok",
                "error": draw(st.text(max_size=40)) if failed else None,
                "wall_s": draw(st.floats(0, 1e4)),
            }
        )
    return out


def new_run(root: Path):
    metadata = {"suite": {"name": "p", "version": 1, "tasks": TASKS}}
    return create_run(root, {**metadata, "episodes_per_task": PLANNED})


def write(run, items) -> None:
    with EpisodeWriter(run) as writer:
        for record in items:
            writer.append(record)


def fresh(tmp_path: Path, name: str) -> Path:
    # One directory per hypothesis example (the tmp_path fixture is shared by all examples).
    path = tmp_path / name
    index = 0
    while (path.parent / f"{name}-{index}").exists():
        index += 1
    return path.parent / f"{name}-{index}"


def crash_points(raw: bytes):
    """Where a crash may cut the file: any byte, and often just before a newline (a whole
    record written, its newline not), the cut that readers and writers may disagree on."""
    newlines = [i for i, byte in enumerate(raw) if byte == ord("\n")]
    anywhere = st.integers(0, len(raw))
    return st.one_of(anywhere, st.sampled_from(newlines)) if newlines else anywhere


def complete_lines(data: bytes) -> int:
    return data.count(b"\n")


@SETTINGS
@given(items=records())
def test_what_is_appended_is_read_back_exactly_in_order(tmp_path, items):
    run = new_run(fresh(tmp_path, "run"))
    write(run, items)
    loaded = load_run(run.path)
    assert loaded.episodes == items
    assert not loaded.torn_tail and loaded.duplicates == 0


@SETTINGS
@given(items=records(), data=st.data())
def test_a_crash_at_any_byte_loses_at_most_the_torn_line_and_resume_completes(
    tmp_path, items, data
):
    run = new_run(fresh(tmp_path, "run"))
    write(run, items)
    path = run.path / EPISODES_FILE
    raw = path.read_bytes()
    cut = data.draw(crash_points(raw), label="cut")
    path.write_bytes(raw[:cut])

    crashed = load_run(run.path)  # never raises, whatever the cut
    survivors = complete_lines(raw[:cut])
    assert crashed.episodes == items[:survivors]
    assert crashed.torn_tail == (cut > 0 and not raw[:cut].endswith(b"\n"))

    # Resume: exactly the missing episodes are played and appended, in any order.
    missing = crashed.missing_episodes()
    done = crashed.done_episodes()
    for task in TASKS:
        assert sorted(set(missing[task]) | done[task]) == list(range(PLANNED))
        assert not set(missing[task]) & done[task]
    by_key = {(r["task"], r["episode"]): r for r in items}
    replay = [by_key.get((task, e)) for task in TASKS for e in missing[task]]
    replay = [r for r in replay if r is not None]
    write(crashed, data.draw(st.permutations(replay), label="replay order"))

    final = load_run(run.path)
    assert not final.torn_tail and final.duplicates == 0
    canonical = lambda rs: sorted(json.dumps(r, sort_keys=True) for r in rs)  # noqa: E731
    assert canonical(final.episodes) == canonical(items)
    assert complete_lines(path.read_bytes()) == len(items)  # nothing lost, nothing repeated


@SETTINGS
@given(items=records().filter(lambda r: len(r) >= 2), data=st.data())
def test_damage_before_the_last_line_is_a_one_line_error(tmp_path, items, data):
    run = new_run(fresh(tmp_path, "run"))
    write(run, items)
    path = run.path / EPISODES_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    victim = data.draw(st.integers(0, len(lines) - 2), label="damaged line")
    junk = data.draw(st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b))
    lines[victim] = junk + b"\n"
    path.write_bytes(b"".join(lines))
    try:
        loaded = load_run(run.path)
    except GatoEvalError as err:
        assert f"{EPISODES_FILE}:{victim + 1} is corrupt" in str(err)
        assert "\n" not in str(err)
    else:  # the junk happened to be a valid record of its own (e.g. a repeated one)
        assert len(loaded.episodes) + loaded.duplicates <= len(items)


@SETTINGS
@given(items=records().filter(bool), repeats=st.integers(1, 3))
def test_a_repeated_record_is_counted_and_the_first_one_kept(tmp_path, items, repeats):
    run = new_run(fresh(tmp_path, "run"))
    changed = {**items[0], "return": 12345.0, "seed": 1}
    write(run, [*items, *[changed] * repeats])
    loaded = load_run(run.path)
    assert loaded.episodes == items and loaded.duplicates == repeats


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_return_round_trips_as_a_string_or_number(tmp_path, value):
    # json writes NaN/Infinity (not JSON), numpy floats become strings: either way the record
    # reads back, and scoring refuses it as not finite (see the hostile input corpus).
    import numpy as np

    run = new_run(tmp_path / "run")
    record = {"task": TASKS[0], "episode": 0, "seed": 0, "return": np.float64(value)}
    record |= {"length": 1, "success": None, "status": "ok", "error": None}
    write(run, [record])
    (loaded,) = load_run(run.path).episodes
    assert str(loaded["return"]) in ("nan", "inf")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@SETTINGS
@given(rows=st.lists(st.dictionaries(st.text(max_size=8), json_values), max_size=8), data=st.data())
def test_json_lines_logs_survive_a_crash_at_any_byte(tmp_path, rows, data):
    # The append-only log of other commands (the ablation's cells.jsonl): the same promise.
    path = fresh(tmp_path, "log") / "cells.jsonl"
    path.parent.mkdir(parents=True)
    path.touch()
    for row in rows:
        append_json_line(path, row)
    raw = path.read_bytes()
    cut = data.draw(crash_points(raw), label="cut")
    path.write_bytes(raw[:cut])
    survivors = complete_lines(raw[:cut])
    read, torn = read_json_lines(path)
    assert read == rows[:survivors]
    assert torn == (cut > 0 and not raw[:cut].endswith(b"\n"))
    for row in rows[survivors:]:  # the resumed writer appends what the reader lacks
        append_json_line(path, row)
    assert read_json_lines(path) == (rows, False)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"policy": "expert"}, "'policy' is 'expert', not an object describing the policy"),
        ({"tasks": "x"}, "'tasks' is not an object (task id -> task spec)"),
        ({"tasks": {"atari-pong": "x"}}, "'tasks.atari-pong' is not a task spec object"),
        ({"seed": "abc"}, "'seed' is 'abc', not an integer in [0, 9223372036854775807]"),
        ({"num_envs": "x"}, "'num_envs' is 'x', not an integer in [1, 4096]"),
        ({"num_envs": 0}, "'num_envs' is 0, not an integer in [1, 4096]"),
        ({"videos": True}, "'videos' is True, not an integer in [0, 1000000]"),
        ({"label": 3}, "'label' is 3, not a string"),
        ({"policy": {"prompt": "first"}}, "'policy.prompt' is 'first', not an object"),
        (
            {
                "suite": {
                    "name": "p",
                    "version": 1,
                    "tasks": TASKS,
                    "max_episode_steps": {"dmc": "x"},
                }
            },
            "'suite.max_episode_steps.dmc' is 'x', not an integer in [1, 1000000000]",
        ),
        (
            {"tasks": {"atari-pong": {"max_episode_steps": "x"}}},
            "'tasks.atari-pong'.max_episode_steps is 'x', not an integer",
        ),
        ({"argv": "gato-eval run"}, "'argv' is not a list of strings"),
    ],
)
def test_a_hand_edited_metadata_field_is_one_line_naming_it(tmp_path, change, problem):
    """Issue #18 point 10: the whole metadata document is checked where a run is read."""
    run = new_run(tmp_path / "run")
    meta_path = run.path / "metadata.json"
    document = json.loads(meta_path.read_text()) | change
    meta_path.write_text(json.dumps(document))
    before = meta_path.read_bytes()
    with pytest.raises(GatoEvalError) as caught:
        load_run(run.path)
    assert str(caught.value) == f"{meta_path}: {problem}"
    assert meta_path.read_bytes() == before  # nothing is written


def test_every_metadata_problem_is_named_at_once(tmp_path):
    run = new_run(tmp_path / "run")
    meta_path = run.path / "metadata.json"
    document = json.loads(meta_path.read_text()) | {"seed": -1, "tasks": [], "policy": 3}
    meta_path.write_text(json.dumps(document))
    with pytest.raises(GatoEvalError) as caught:
        load_run(run.path)
    assert str(caught.value) == (
        f"{meta_path} has 3 problems: 'seed' is -1, not an integer in [0, 9223372036854775807]; "
        "'tasks' is not an object (task id -> task spec); 'policy' is 3, not an object "
        "describing the policy"
    )


def test_metadata_written_by_a_run_is_valid(tmp_path):
    """What `evaluate.build_metadata` writes passes the check it is read with."""
    from gato_eval.evaluate import build_metadata
    from gato_eval.run.metadata import RunMetadata
    from gato_eval.run.settings import RunSettings
    from gato_eval.suites.registry import get_suite

    suite = get_suite("default")
    metadata = build_metadata(
        RunSettings(suite="default", episodes=2, seed=3, num_envs=2),
        suite,
        suite.task_specs(),
        {"kind": "random", "name": "random", "spec": "random", "prompt": None},
        ["gato-eval", "run", "suite"],
    )
    checked = RunMetadata.from_dict({"format_version": 1, **metadata})
    assert checked.suite.max_episode_steps == {"atari": 1000} and checked.seed == 3
    assert checked.tasks["atari-pong"]["max_episode_steps"] == 1000
