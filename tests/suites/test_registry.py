"""Task and suite lookup, option overrides, suite files, versions, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import FAMILIES, TaskSpec
from gato_eval.suites.registry import (
    all_suites,
    all_tasks,
    env_versions,
    get_suite,
    get_task,
    make_env,
    resolve_task,
)

SIMULATORS = ("ale_py", "mujoco", "dm_control", "metaworld", "minigrid", "gymnasium", "torch")


def test_unknown_task_is_one_line_with_close_matches():
    with pytest.raises(GatoEvalError) as caught:
        get_task("atari-boxin")
    message = str(caught.value)
    assert "\n" not in message and "atari-boxing" in message and "ls tasks" in message


def test_unknown_suite_is_one_line_with_close_matches():
    with pytest.raises(GatoEvalError) as caught:
        get_suite("heldot")
    assert "\n" not in str(caught.value) and "heldout" in str(caught.value)


def test_get_task_returns_a_copy_that_cannot_corrupt_the_catalog():
    spec = get_task("atari-pong")
    spec.options["frameskip"] = 99
    assert get_task("atari-pong").options["frameskip"] == 4


def test_all_tasks_by_family():
    assert len(all_tasks()) == 247
    counts = {family: len(all_tasks(family)) for family in FAMILIES}
    assert counts == {"atari": 57, "dmc": 28, "metaworld": 50, "babyai": 96, "procgen": 16}
    with pytest.raises(GatoEvalError, match="did you mean: dmc"):
        all_tasks("dmcc")


def test_suites_are_the_documented_sets():
    suites = {suite.name: suite for suite in all_suites()}
    families = {"atari", "dmc", "metaworld", "babyai", "procgen"}
    assert set(suites) == {"all", "heldout", "default", *families}
    everything = [spec.task_id for spec in all_tasks()]
    assert sorted(suites["all"].task_ids) == sorted(everything)
    for family in FAMILIES:
        assert list(suites[family].task_ids) == [s.task_id for s in all_tasks(family)]
    assert set(suites["heldout"].task_ids) == {
        "dmc-cartpole-swingup",
        "metaworld-assembly",
        "atari-boxing",
    }
    default = suites["default"]
    assert default.task_ids == (
        "atari-pong",
        "atari-breakout",
        "dmc-cartpole-balance",
        "dmc-point-mass-easy",
        "metaworld-reach",
        "metaworld-button-press-topdown",
        "babyai-go-to-red-ball",
        "babyai-go-to-local",
    )
    assert default.episodes == 10 and all(s.version >= 1 for s in suites.values())
    assert default.tasks == default.task_ids


def test_suite_caps_are_applied_to_its_specs_and_said_in_its_description():
    default = get_suite("default")
    caps = default.max_episode_steps
    assert caps == {"atari": 1000} and "not comparable" in default.description.lower()
    steps = {spec.task_id: spec.max_episode_steps for spec in default.task_specs()}
    assert steps["atari-pong"] == 1000 and steps["dmc-cartpole-balance"] == 1000
    assert steps["metaworld-reach"] == 500
    assert get_task("atari-pong").max_episode_steps == 27_000  # the catalog is untouched


def test_suite_from_a_json_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "name": "mine",
                "version": 3,
                "tasks": ["babyai-go-to-local", "dmc-cartpole-swingup"],
                "episodes": 4,
                "max_episode_steps": {"dmc": 100},
            }
        )
    )
    suite = get_suite(str(path))
    assert suite.name == "mine" and suite.version == 3 and suite.episodes == 4
    assert [s.max_episode_steps for s in suite.task_specs()] == [64, 100]
    path.write_text(json.dumps({"name": "bad", "version": 1, "episodes": 1, "tasks": ["dmc-x"]}))
    with pytest.raises(GatoEvalError, match="unknown task 'dmc-x'"):
        get_suite(str(path))
    path.write_text("{not json")
    with pytest.raises(GatoEvalError, match="cannot read suite file"):
        get_suite(str(path))
    with pytest.raises(GatoEvalError, match="not found"):
        get_suite(str(tmp_path / "missing.json"))


def test_option_overrides_are_checked():
    spec = resolve_task("atari-pong", repeat_action_probability=0, frameskip=5)
    assert spec.options["repeat_action_probability"] == 0.0 and spec.options["frameskip"] == 5
    with pytest.raises(GatoEvalError, match=r"has no option 'frame_skip'.*frameskip"):
        resolve_task("atari-pong", frame_skip=5)
    with pytest.raises(GatoEvalError, match="must be int"):
        resolve_task("atari-pong", frameskip="4")
    with pytest.raises(GatoEvalError, match="must be bool"):
        resolve_task("dmc-cartpole-swingup", pixels=1)
    with pytest.raises(GatoEvalError, match="fixed"):
        resolve_task("metaworld-reach", goal_observable=False)
    with pytest.raises(GatoEvalError, match="render_mode"):
        make_env("babyai-go-to-local", render_mode="human")


def test_make_env_accepts_a_spec_and_records_nothing_globally():
    spec = TaskSpec.from_dict({**get_task("babyai-go-to-local").to_dict(), "env_versions": {}})
    env = make_env(spec)
    observation, _ = env.reset(seed=0)
    env.close()
    assert observation["discrete"].shape == (148,)


def test_env_versions_name_the_simulator_packages():
    import ale_py
    import minigrid

    assert env_versions("atari")["ale-py"] == ale_py.__version__
    assert env_versions(get_task("babyai-go-to-local"))["minigrid"] == minigrid.__version__
    assert set(env_versions("dmc")) == {"dm-control", "mujoco"}
    assert "metaworld" in env_versions("metaworld")
    with pytest.raises(GatoEvalError):
        env_versions("dmlab")


def test_registry_imports_no_simulator():
    # The references' own check moved with them to scores/ (tests/scores/).
    code = (
        "import sys\n"
        "from gato_eval.suites import registry\n"
        "registry.all_tasks(); registry.all_suites(); registry.get_suite('default').task_specs()\n"
        "registry.episode_reset_options(0, 'atari-pong', 0)\n"
        f"print('LOADED', [m for m in {SIMULATORS!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in out.stdout
