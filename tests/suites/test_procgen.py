"""Procgen, on the real games: contract, seeded levels that replay exactly, episode ends, the
published normalization constants, and the import that keeps old gym out.

A sample of games runs in CI (nox's tests session installs procgen); every game under `slow`.
Tests that need the simulator skip, saying so, only where procgen is not installed.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import os
import subprocess
import sys

import gymnasium
import numpy as np
import pytest

from gato_eval.scores.procgen_constants import (
    CONSTANTS_FILE,
    constants_table,
    provenance,
    published_range,
)
from gato_eval.suites.catalog import PROCGEN_GAMES
from gato_eval.suites.registry import all_tasks, get_task, make_env, resolve_task

INSTALLED = all(importlib.util.find_spec(name) for name in ("procgen", "gym3", "cffi"))
# CI installs procgen (noxfile.py), so there a missing install fails these tests, never skips them.
needs_procgen = pytest.mark.skipif(
    not INSTALLED and not os.environ.get("CI"),
    reason="procgen is not installed here (CI's nox tests session installs it; see README "
    "'Procgen')",
)
SAMPLE = ("procgen-coinrun", "procgen-maze", "procgen-starpilot")
ALL = [spec.task_id for spec in all_tasks("procgen")]
NOOP = 4  # Procgen's action 4 presses no button


def check_contract(task_id, play, random_actions, resets: int) -> None:
    spec = get_task(task_id)
    env = make_env(spec)
    try:
        assert env.observation_space == gymnasium.spaces.Dict(
            {"image": gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
        )
        assert env.action_space == gymnasium.spaces.Discrete(15)
        assert spec.action_space == "Discrete(15)"
        for seed in range(resets):
            played = play(env, seed, random_actions(env.action_space, 200, seed))
            for observation in played.observations:
                assert env.observation_space.contains(observation)
            assert all(type(reward) is float for reward in played.rewards)
            assert all(type(info["success"]) is bool for info in played.infos)
            assert {info["level_seed"] for info in played.infos} == {seed}
            # A frame, not a blank: Procgen draws a level with more than one colour.
            assert played.observations[0]["image"].std() > 0
    finally:
        env.close()


def check_replay(task_id, play, random_actions) -> None:
    env = make_env(task_id)
    actions = random_actions(env.action_space, 300, seed=1)
    first = play(env, 11, actions)
    play(env, 12, actions[:40])  # an interleaved episode must not leak into the next one
    again = play(env, 11, actions)
    fresh_env = make_env(task_id)
    fresh = play(fresh_env, 11, actions)
    other = play(fresh_env, 13, actions)
    env.close()
    fresh_env.close()
    assert first.same_as(again) and first.same_as(fresh)
    assert not first.same_as(other)


@needs_procgen
@pytest.mark.parametrize("task_id", SAMPLE)
def test_sampled_games_honour_the_contract(task_id, play, random_actions):
    check_contract(task_id, play, random_actions, resets=2)


@needs_procgen
@pytest.mark.parametrize("task_id", SAMPLE)
def test_same_seed_same_actions_same_episode(task_id, play, random_actions):
    check_replay(task_id, play, random_actions)


@pytest.mark.slow
@needs_procgen
@pytest.mark.parametrize("task_id", ALL)
def test_every_game_honours_the_contract_and_replays(task_id, play, random_actions):
    check_contract(task_id, play, random_actions, resets=3)
    check_replay(task_id, play, random_actions)


@needs_procgen
@pytest.mark.parametrize("level_set", ["test", "train"])
def test_an_episode_is_procgens_own_level_of_the_seed(level_set, play, random_actions):
    # The same actions in Procgen's gym3 env, made directly on the level the rule names, give
    # the same frames and rewards: the wrapper adds nothing and picks the documented level.
    from gato_eval.suites.procgen import procgen_env_class

    spec = resolve_task("procgen-coinrun", level_set=level_set, train_start_level=7)
    seed = 123_456_789
    level = seed % (2**31 - 1) if level_set == "test" else 7 + seed % 500
    env = make_env(spec)
    actions = random_actions(env.action_space, 150, seed=2)
    ours = play(env, seed, actions)
    env.close()
    game = procgen_env_class()(
        num=1, env_name="coinrun", distribution_mode="hard", start_level=level, num_levels=1
    )
    _, observation, _ = game.observe()
    frames, rewards = [observation["rgb"][0]], []
    for action in actions[: len(ours.rewards)]:
        game.act(np.array([action], np.int32))
        reward, observation, _ = game.observe()
        frames.append(observation["rgb"][0])
        rewards.append(float(reward[0]))
    game.close()
    assert {info["level_seed"] for info in ours.infos} == {level}
    assert rewards == ours.rewards
    pairs = zip(ours.observations, frames, strict=True)
    assert all(np.array_equal(ours_frame["image"], frame) for ours_frame, frame in pairs)


@needs_procgen
def test_unseeded_resets_continue_the_seeded_stream(play):
    env = make_env("procgen-bigfish")
    env.reset(seed=5)
    levels = [env.reset()[1]["level_seed"] for _ in range(3)]
    env.reset(seed=5)
    assert [env.reset()[1]["level_seed"] for _ in range(3)] == levels
    assert len(set(levels)) == 3
    env.close()


@needs_procgen
def test_the_games_own_timeout_truncates(play):
    # Standing still in an easy maze neither finds the cheese nor dies: only maze's 500-step
    # timeout (its max_episode_steps) ends the episode, which is a truncation.
    env = make_env("procgen-maze")
    played = play(env, 3, [NOOP] * 600)
    env.close()
    assert len(played.rewards) == 500 == get_task("procgen-maze").max_episode_steps
    assert played.truncated and not played.terminated
    assert not any(info["success"] for info in played.infos)


@needs_procgen
def test_a_suite_cap_truncates_earlier(play):
    spec = dataclasses.replace(get_task("procgen-maze"), max_episode_steps=7)
    env = make_env(spec)
    played = play(env, 0, [NOOP] * 20)
    env.close()
    assert len(played.rewards) == 7 and played.truncated


@needs_procgen
def test_completing_the_level_terminates_with_success(play, random_actions):
    # Random walks find the cheese of some easy mazes within 500 steps; the episode that does
    # ends there, terminated, with maze's reward of 10 and success on that step only.
    env = make_env("procgen-maze")
    for seed in range(40):
        played = play(env, seed, random_actions(env.action_space, 500, seed))
        if played.terminated:
            break
    env.close()
    assert played.terminated and not played.truncated, "no random walk solved 40 mazes"
    assert played.rewards[-1] == 10.0 and sum(played.rewards) == 10.0
    assert [info["success"] for info in played.infos] == [False] * (len(played.infos) - 1) + [True]


@needs_procgen
def test_rgb_array_rendering_gives_procgens_human_view():
    env = make_env("procgen-starpilot", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(NOOP)
    frame = env.render()
    env.close()
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8 and frame.std() > 0


@needs_procgen
def test_game_list_is_procgens():
    from gato_eval.suites.procgen import procgen_env_class

    procgen_env_class()
    assert [game for game, _, _ in PROCGEN_GAMES] == sys.modules["procgen.env"].ENV_NAMES


@needs_procgen
def test_procgen_imports_without_old_gym():
    if importlib.util.find_spec("gym") is not None:
        pytest.skip("old gym is installed here: the import shim is not used")
    code = (
        "import sys\n"
        "from gato_eval.suites.procgen import procgen_env_class\n"
        "cls = procgen_env_class()\n"
        "print(cls.__name__, [m for m in sys.modules if m == 'gym' or m.startswith('gym.')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ProcgenGym3Env", "[]"]


def test_bad_options_are_one_line_errors():
    from gato_eval.core.errors import GatoEvalError

    with pytest.raises(GatoEvalError, match="distribution_mode"):
        make_env("procgen-coinrun", distribution_mode="extreme")
    with pytest.raises(GatoEvalError, match="level_set"):
        make_env("procgen-coinrun", level_set="validation")
    with pytest.raises(GatoEvalError, match="train_num_levels"):
        make_env("procgen-coinrun", train_num_levels=0)
    with pytest.raises(GatoEvalError, match="fixed"):
        make_env("procgen-coinrun", reward="clipped")


def test_specs_record_gatos_modes_and_procgens_levels():
    modes = {spec.env_id: spec.options["distribution_mode"] for spec in all_tasks("procgen")}
    assert len(modes) == 16
    assert {game for game, mode in modes.items() if mode == "easy"} == {"maze", "heist"}
    for spec in all_tasks("procgen"):
        mode = spec.options["distribution_mode"]
        assert spec.options["level_set"] == "test" and spec.options["train_start_level"] == 0
        assert spec.options["train_num_levels"] == {"easy": 200, "hard": 500}[mode]


# --- the published normalization constants (no simulator needed) ------------------------------


def test_constants_cover_every_game_in_both_modes_with_their_source():
    table = constants_table()
    games = {game for game, _, _ in PROCGEN_GAMES}
    assert set(table) == {(game, mode) for game in games for mode in ("easy", "hard")}
    assert all(r_max > r_min for r_min, r_max in table.values())
    assert "arXiv:1912.01588" in provenance()
    header = next(line for line in CONSTANTS_FILE.read_text().splitlines() if line[0] != "#")
    assert next(csv.reader([header])) == ["game", "distribution_mode", "r_min", "r_max"]


def test_published_range_follows_the_protocols_mode():
    maze, starpilot = published_range("procgen-maze"), published_range("procgen-starpilot")
    assert (maze.r_min, maze.r_max) == (5.0, 10.0)  # easy, Gato's mode for maze
    assert (starpilot.r_min, starpilot.r_max) == (1.5, 35.0)  # hard
    easy = published_range("procgen-starpilot", 'distribution_mode="easy"')
    assert (easy.r_min, easy.r_max) == (2.5, 64.0) and "easy" in easy.note
    train = published_range("procgen-fruitbot", 'level_set="train"')
    assert (train.r_min, train.r_max) == (-0.5, 27.2)
    for protocol in ("max_steps=100", "use_backgrounds=false"):
        capped = published_range("procgen-coinrun", protocol)
        assert capped.r_min is None and capped.r_max is None and protocol in capped.note
    other = published_range("atari-pong")
    assert other.r_min is None and "Procgen tasks only" in other.note


def test_data_collect_refuses_procgen_in_one_line(cli):
    result = cli("data", "collect", "--task", "procgen-coinrun", "--episodes", "1")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "evaluation-only" in result.stderr


def test_the_procgen_rmin_source_normalizes_as_cobbe_et_al():
    from gato_eval.scores.normalization import resolve_normalizers

    tasks = ["procgen-coinrun", "procgen-maze", "atari-pong"]
    normalizers = resolve_normalizers(tasks, "procgen-rmin")
    coinrun, maze = normalizers["procgen-coinrun"], normalizers["procgen-maze"]
    # (R - R_min) / (R_max - R_min): coinrun hard 5..10, maze easy 5..10, fruitbot below.
    assert [coinrun.normalize(r) for r in (5.0, 7.5, 10.0, 0.0)] == [0.0, 0.5, 1.0, -1.0]
    assert maze.normalize(10.0) == 1.0 and "easy" in maze.note
    fruitbot = resolve_normalizers(["procgen-fruitbot"], "procgen-rmin")["procgen-fruitbot"]
    assert fruitbot.normalize(-0.5) == 0.0 and fruitbot.normalize(27.2) == 1.0
    assert not normalizers["atari-pong"].normalizable


def test_the_procgen_source_is_measured_random_to_published_r_max(private_home):
    # Gato's rule with a uniform-random zero point: the project's random row of the protocol
    # (here a user-local one, which overrides the packaged table) and Cobbe et al.'s R_max.
    from gato_eval.scores.project_table import record_project_reference
    from gato_eval.scores.sources import get_reference

    record_project_reference(
        "procgen-coinrun", random=2.5, random_episodes=400, provenance="test: random episodes"
    )
    coinrun = get_reference("procgen-coinrun", "procgen")
    assert (coinrun.random, coinrun.expert, coinrun.source) == (2.5, 10.0, "procgen")
    assert coinrun.normalize(2.5) == 0.0 and coinrun.normalize(10.0) == 1.0
    assert "hard-mode R_max" in coinrun.note and "test: random episodes" in coinrun.note
    # The easy mode's R_max (64, not 35) with a random row measured in that mode only.
    easy = 'distribution_mode="easy"'
    assert not get_reference("procgen-starpilot", "procgen", easy).normalizable
    record_project_reference(
        "procgen-starpilot", protocol=easy, random=1.0, random_episodes=300, provenance="easy"
    )
    starpilot = get_reference("procgen-starpilot", "procgen", easy)
    assert (starpilot.random, starpilot.expert) == (1.0, 64.0) and "easy-mode" in starpilot.note
    # R_max is for full-length episodes: a capped protocol gets no Procgen reference at all.
    record_project_reference(
        "procgen-coinrun", protocol="max_steps=30", random=0.0, random_episodes=2,
        provenance="capped",
    )  # fmt: skip
    capped = get_reference("procgen-coinrun", "procgen", "max_steps=30")
    assert capped.random is None and capped.expert is None and "max_steps=30" in capped.note


def test_a_procgen_random_without_a_measured_random_is_not_normalizable():
    from gato_eval.scores.normalization import resolve_normalizers

    protocol = 'level_set="train"'  # no project row measures the training levels
    (found,) = resolve_normalizers({"procgen-coinrun": protocol}, "procgen").values()
    assert not found.normalizable and found.expert == 10.0 and found.random is None
    assert "data reference" in found.note


def test_every_game_ships_a_measured_random_below_r_max_with_its_provenance():
    # The default chain normalizes the whole procgen suite: each game's packaged project row
    # holds a random mean of enough episodes, in the game's mode, and no expert of its own.
    from gato_eval.scores.project_table import read_project_file
    from gato_eval.scores.sources import PROJECT_FILE, get_reference

    rows = read_project_file(PROJECT_FILE)
    for spec in all_tasks("procgen"):
        row = rows[(spec.task_id, "full")]
        assert row["expert"] == "" and int(row["random_episodes"]) >= 200
        mode = spec.options["distribution_mode"]
        assert f"Procgen {mode} mode, test levels" in row["provenance"]
        reference = get_reference(spec.task_id, "procgen")
        assert reference.normalizable and reference.random == float(row["random"])


def test_a_suite_with_procgen_tasks_is_refused_up_front_where_procgen_is_missing(
    cli, tmp_path, monkeypatch
):
    # `all` plays Procgen after hours of other tasks: a missing install must stop it at once.
    monkeypatch.setitem(sys.modules, "procgen", None)  # find_spec("procgen") is now None
    suite = tmp_path / "mixed.json"
    suite.write_text(
        '{"name": "mixed", "version": 1, "episodes": 1,'
        ' "tasks": ["babyai-go-to-red-ball", "procgen-coinrun"]}'
    )
    out = tmp_path / "run"
    result = cli("run", "suite", suite, "--model", "random", "--out", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "Procgen tasks need procgen" in result.stderr and "--no-deps" in result.stderr
    assert not out.exists()
