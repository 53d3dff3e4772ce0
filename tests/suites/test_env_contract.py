"""Every registered task makes a real env that honours the observation dict contract.

The default run covers a sample of each family; `nox -s slow` covers all 247 tasks
(tests/suites/test_procgen.py checks Procgen's sample and its every game more closely).
"""

from __future__ import annotations

import dataclasses
import importlib.util

import gymnasium
import numpy as np
import pytest

from gato_eval.core.task_spec import OBSERVATION_KEYS
from gato_eval.suites.registry import all_tasks, get_task, make_env

SAMPLE = (
    "atari-pong",
    "atari-montezuma-revenge",
    "dmc-cartpole-swingup",
    "dmc-ball-in-cup-catch",
    "dmc-humanoid-run",
    "metaworld-assembly",
    "metaworld-button-press-topdown",
    "babyai-go-to-local",
    "babyai-go-to-obj-s6",
    "babyai-put-next-s5n2-carrying",
    "babyai-boss-level",
)
ALL = [spec.task_id for spec in all_tasks()]
RANDOM_STEPS = 30


def check_observation(observation: dict, space: gymnasium.spaces.Dict) -> None:
    assert set(observation) == set(space.spaces)
    for key, value in observation.items():
        if key == "text":
            assert isinstance(value, str) and value
        elif key == "image":
            assert value.dtype == np.uint8 and value.ndim == 3 and value.shape[2] == 3
            assert value.shape[0] % 16 == 0 and value.shape[1] % 16 == 0
        elif key == "discrete":
            assert value.dtype == np.int64 and value.ndim == 1
            assert value.min() >= 0 and value.max() < 1024
        else:
            assert value.dtype == np.float32 and value.ndim == 1
            assert np.all(np.isfinite(value))
    assert space.contains(observation), f"observation outside its space: {space}"


def check_task(task_id: str, play, random_actions, resets: int = 1) -> None:
    spec = get_task(task_id)
    env = make_env(spec)
    try:
        space = env.observation_space
        assert isinstance(space, gymnasium.spaces.Dict)
        assert set(space.spaces) <= set(OBSERVATION_KEYS) and space.spaces
        action_space = env.action_space
        if isinstance(action_space, gymnasium.spaces.Discrete):
            assert spec.action_space == f"Discrete({action_space.n})"
        else:
            assert isinstance(action_space, gymnasium.spaces.Box)
            assert action_space.dtype == np.float32 and len(action_space.shape) == 1
            assert np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)
            assert spec.action_space == f"Box(-1.0, 1.0, {action_space.shape}, float32)"
        for seed in range(resets):
            played = play(env, seed, random_actions(action_space, RANDOM_STEPS, seed))
            for observation in played.observations:
                check_observation(observation, space)
            assert all(type(reward) is float for reward in played.rewards)
            for info in played.infos:
                if spec.has_success:
                    assert type(info["success"]) is bool
                else:
                    assert "success" not in info
            if spec.family == "babyai":
                # the spec's step limit bounds minigrid's per-episode one
                assert env.unwrapped.max_steps <= spec.max_episode_steps
    finally:
        env.close()


@pytest.mark.parametrize("task_id", SAMPLE)
def test_sampled_task_honours_the_contract(task_id, play, random_actions):
    check_task(task_id, play, random_actions)


@pytest.mark.slow
@pytest.mark.parametrize("task_id", ALL)
def test_every_task_honours_the_contract(task_id, play, random_actions):
    check_task(task_id, play, random_actions, resets=3)


@pytest.mark.parametrize(
    "task_id",
    ["atari-breakout", "dmc-cartpole-balance", "metaworld-reach", "babyai-go-to-red-ball"],
)
def test_episode_is_truncated_at_max_episode_steps(task_id, play, random_actions):
    spec = dataclasses.replace(get_task(task_id), max_episode_steps=7)
    env = make_env(spec)
    # BabyAI action 0 turns left forever: no success, so only the step cap ends the episode.
    actions = [0] * 20 if spec.family == "babyai" else random_actions(env.action_space, 20)
    played = play(env, 0, actions)
    env.close()
    assert len(played.rewards) == 7 and played.truncated


def test_full_length_episodes_end_where_the_family_says(play, random_actions):
    for task_id, steps in (("dmc-cartpole-balance", 1000), ("metaworld-reach", 500)):
        env = make_env(task_id)
        played = play(env, 1, random_actions(env.action_space, steps + 5))
        env.close()
        assert len(played.rewards) == steps and played.truncated and not played.terminated
    env = make_env("babyai-go-to-red-ball")  # minigrid's own limit: 64 steps for this level
    played = play(env, 1, [0] * 100)
    assert len(played.rewards) == env.unwrapped.max_steps == 64 and played.truncated


@pytest.mark.parametrize(
    ("task_id", "shape"),
    [
        ("atari-pong", (210, 160, 3)),
        ("dmc-cartpole-swingup", (240, 320, 3)),
        ("metaworld-reach", (256, 256, 3)),
        ("babyai-go-to-local", None),
    ],
)
def test_rgb_array_rendering_gives_video_frames(task_id, shape):
    env = make_env(task_id, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    env.close()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.std() > 0  # not a blank frame
    if shape is not None:
        assert frame.shape == shape


def test_simulators_are_reachable_through_unwrapped():
    atari = make_env("atari-pong")
    atari.reset(seed=0)
    assert atari.unwrapped.ale.getRAM().shape == (128,)
    dmc = make_env("dmc-cartpole-swingup")
    dmc.reset(seed=0)
    assert dmc.unwrapped.physics.data.qpos.shape == (2,)
    meta = make_env("metaworld-reach")
    meta.reset(seed=0)
    assert meta.unwrapped.max_path_length == 500 and hasattr(meta.unwrapped, "set_task")
    baby = make_env("babyai-go-to-local")
    baby.reset(seed=0)
    assert baby.unwrapped.grid is not None and baby.unwrapped.mission
    for env in (atari, dmc, meta, baby):
        env.close()


# One task of every family, as `make_env` returns it (Skiing: FullActionSet remaps its actions).
CHECKED = ("atari-pong", "atari-skiing", "dmc-cartpole-balance", "metaworld-reach",
           "babyai-go-to-local", "procgen-coinrun")  # fmt: skip


# The checker's render check is skipped: it re-makes the Atari and BabyAI envs in "human" render
# mode (a pygame window), after which dm_control's EGL context in the same process fails to
# initialize (EGL_NOT_INITIALIZED in test_dmc_pixels_option_adds_a_64x64_camera_image under one
# xdist worker). gato-eval renders only rgb_array frames, which the video tests cover.
@pytest.mark.parametrize("task_id", CHECKED)
def test_gymnasium_env_checker_passes_on_what_make_env_returns(task_id):
    from gymnasium.utils.env_checker import check_env

    from gato_eval.core.task_spec import FAMILIES

    assert {t.split("-")[0] for t in CHECKED} == set(FAMILIES)
    if task_id.startswith("procgen-") and not all(
        importlib.util.find_spec(name) for name in ("procgen", "gym3", "cffi")
    ):
        pytest.skip("procgen is not installed here (README: Install, Procgen)")
    env = make_env(task_id)
    # Seeding, determinism, spaces and, where the env came from gymnasium.make (Atari, BabyAI),
    # re-making it from `env.spec`, which needs every wrapper to record its constructor args.
    check_env(env, skip_render_check=True)  # see the comment above the parametrization
    if env.spec is not None:
        # The re-made env plays the same (gymnasium moves TimeLimit next to the base env).
        again = env.spec.make()
        assert again.spec.max_episode_steps == env.spec.max_episode_steps
        actions = [env.action_space.sample() for _ in range(5)]

        def play(played):
            observation, _ = played.reset(seed=3)
            return [observation] + [played.step(action)[0] for action in actions]

        for mine, theirs in zip(play(env), play(again), strict=True):
            assert all(np.array_equal(mine[key], theirs[key]) for key in mine)
        again.close()
    env.close()
