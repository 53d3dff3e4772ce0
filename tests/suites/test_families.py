"""Family decisions, checked on the real simulators: determinism, seeding, rewards, success."""

from __future__ import annotations

import dataclasses

import gymnasium
import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.suites.atari import area_taps, downscale_frame
from gato_eval.suites.registry import get_task, make_env

DETERMINISM = {
    "atari-breakout": 300,
    "dmc-walker-walk": 200,
    "metaworld-pick-place": 150,
    "babyai-go-to-local": 64,
}


@pytest.mark.parametrize(("task_id", "steps"), DETERMINISM.items())
def test_same_seed_same_actions_same_episode(task_id, steps, play, random_actions):
    env = make_env(task_id)
    actions = random_actions(env.action_space, steps, seed=1)
    first = play(env, 11, actions)
    play(env, 12, actions[:40])  # an interleaved episode must not leak into the next one
    again = play(env, 11, actions)
    fresh_env = make_env(task_id)
    fresh = play(fresh_env, 11, actions)
    other_seed = play(fresh_env, 13, actions)
    env.close()
    fresh_env.close()
    assert first.same_as(again) and first.same_as(fresh)
    assert not first.same_as(other_seed)


# --- Atari -------------------------------------------------------------------------------------


def test_area_taps_average_exactly_the_covered_source_pixels():
    indices, weights = area_taps(5, 2)  # output pixel 0 covers 0, 1 and half of 2
    dense = np.zeros((2, 5))
    for index, weight in zip(indices, weights, strict=True):
        dense[np.arange(2), index] += weight
    np.testing.assert_allclose(dense, [[0.4, 0.4, 0.2, 0, 0], [0, 0, 0.2, 0.4, 0.4]], atol=1e-7)


def test_downscale_matches_block_means_of_the_upsampled_frame():
    # 210 x 160 -> 80 x 64: repeating each pixel 8 x 2 times makes every output pixel an exact
    # 21 x 5 block, whose mean is the area average by definition.
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (210, 160, 3), dtype=np.uint8)
    upsampled = np.repeat(np.repeat(frame.astype(np.float64), 8, axis=0), 2, axis=1)
    expected = upsampled.reshape(80, 21, 64, 5, 3).mean(axis=(1, 3))
    shrunk = downscale_frame(frame, 80, 64)
    assert shrunk.shape == (80, 64, 3) and shrunk.dtype == np.uint8
    assert np.abs(shrunk - expected).max() <= 0.5 + 1e-4
    flat = np.full((210, 160, 3), 37, np.uint8)
    assert np.all(downscale_frame(flat, 80, 64) == 37)


def test_atari_rewards_are_raw_and_life_loss_does_not_end_the_episode(play, random_actions):
    env = make_env("atari-space-invaders")
    reference = gymnasium.make(
        "ALE/SpaceInvaders-v5", full_action_space=True, repeat_action_probability=0.25
    )
    actions = random_actions(env.action_space, 600, seed=3)
    ours = play(env, 5, actions)
    theirs = play(reference, 5, actions)
    assert ours.rewards == theirs.rewards and max(ours.rewards) > 1.0  # 5-30 points per invader
    lives = [info["lives"] for info in ours.infos]
    lost = [t for t in range(1, len(lives)) if lives[t] < lives[t - 1]]
    assert lost and len(ours.rewards) > lost[0] + 1  # play stops at termination: it did not
    np.testing.assert_array_equal(
        ours.observations[-1]["image"], downscale_frame(theirs.observations[-1], 80, 64)
    )
    env.close()
    reference.close()


def test_every_game_takes_the_full_18_actions_even_skiing(play):
    env = make_env("atari-skiing")  # ALE's legal set for Skiing has 9 actions, no FIRE
    assert env.action_space.n == 18
    with_fire = play(env, 0, [10, 14, 15] * 30)  # UPFIRE, UPRIGHTFIRE, UPLEFTFIRE
    without = play(env, 0, [2, 6, 7] * 30)  # UP, UPRIGHT, UPLEFT
    env.close()
    assert with_fire.same_as(without)


def test_atari_options_reach_the_emulator():
    env = make_env("atari-pong", full_action_space=False, image_height=96, image_width=80)
    observation, _ = env.reset(seed=0)
    assert env.action_space.n == 6 and observation["image"].shape == (96, 80, 3)
    env.close()
    with pytest.raises(GatoEvalError, match="multiples of 16"):
        make_env("atari-pong", image_height=81)
    with pytest.raises(GatoEvalError, match="fixed"):
        make_env("atari-pong", reward_clipping=True)


# --- dm_control --------------------------------------------------------------------------------


def test_dmc_observation_is_the_sorted_flat_state():
    env = make_env("dmc-finger-turn-easy")
    observation, _ = env.reset(seed=2)
    time_step = env.unwrapped.dm_env.task.get_observation(env.unwrapped.physics)
    expected = np.concatenate(
        [np.asarray(time_step[key], np.float32).reshape(-1) for key in sorted(time_step)]
    )
    np.testing.assert_array_equal(observation["continuous"], expected)
    assert expected.shape == (12,)
    env.close()


def test_dmc_pixels_option_adds_a_64x64_camera_image():
    env = make_env("dmc-point-mass-easy", pixels=True)
    observation, _ = env.reset(seed=0)
    assert observation["image"].shape == (64, 64, 3) and observation["image"].std() > 0
    assert env.observation_space.contains(observation)
    env.close()


def test_dmc_returns_stay_in_0_1000_and_actions_are_clipped(play):
    env = make_env("dmc-cartpole-balance")
    played = play(env, 0, [np.array([5.0], np.float32)] * 1000)  # clipped to +1
    clipped = play(env, 0, [np.array([1.0], np.float32)] * 1000)
    env.close()
    assert played.rewards == clipped.rewards
    assert 0.0 <= sum(played.rewards) <= 1000.0 and all(0 <= r <= 1 for r in played.rewards)


# --- Meta-World --------------------------------------------------------------------------------


def test_metaworld_goal_variant_is_the_reset_option_else_follows_the_seed():
    env = make_env("metaworld-reach")

    def goal(seed, variant=None):
        options = None if variant is None else {"goal_variant": variant}
        observation, _ = env.reset(seed=seed, options=options)
        return observation["continuous"][-3:].copy()

    # The engine names the variant; the seed does not change it (Meta-World ignores the seed).
    assert np.array_equal(goal(3, variant=11), goal(999, variant=11))
    assert np.array_equal(goal(0, variant=11), goal(11))
    assert not np.array_equal(goal(0, variant=11), goal(0, variant=12))
    with pytest.raises(ValueError, match="goal_variant"):
        env.reset(seed=0, options={"goal_variant": 50})
    # A user's own reset without the option: seed % 50, then the next variant when unseeded.
    assert np.array_equal(goal(3), goal(53))
    assert not np.array_equal(goal(3), goal(4))
    goal(7)
    unseeded, _ = env.reset()
    assert np.array_equal(unseeded["continuous"][-3:], goal(8))
    env.close()


def test_metaworld_task_spec_records_the_goal_variant_rule():
    options = get_task("metaworld-reach").options
    assert "perm[i % goal_variants]" in options["goal_variant_rule"]
    assert "goal_choice" not in options  # the old rule's key: old specs differ from new ones


def test_metaworld_scripted_expert_succeeds_and_success_is_a_bool():
    from metaworld.policies import SawyerReachV3Policy

    env = make_env("metaworld-reach")
    expert = SawyerReachV3Policy()
    observation, _ = env.reset(seed=0)
    successes = []
    for _ in range(150):
        action = expert.get_action(observation["continuous"].astype(np.float64))
        observation, _, _, _, info = env.step(action)
        successes.append(info["success"])
    env.close()
    assert any(successes) and all(type(s) is bool for s in successes)


# --- BabyAI ------------------------------------------------------------------------------------


def test_babyai_observation_is_mission_and_view_plus_direction():
    env = make_env("babyai-go-to-red-ball")
    observation, _ = env.reset(seed=4)
    minigrid_obs = env.unwrapped.gen_obs()
    assert observation["text"] == minigrid_obs["mission"] == "go to the red ball"
    assert observation["discrete"].shape == (148,)
    np.testing.assert_array_equal(observation["discrete"][:147], minigrid_obs["image"].reshape(-1))
    assert observation["discrete"][147] == minigrid_obs["direction"]
    env.close()


def test_babyai_bot_succeeds_with_minigrid_reward():
    from minigrid.utils.baby_ai_bot import BabyAIBot

    env = make_env("babyai-go-to-local")
    env.reset(seed=3)
    bot = BabyAIBot(env.unwrapped)
    successes = []
    for _ in range(64):
        _, reward, terminated, truncated, info = env.step(bot.replan())
        successes.append(info["success"])
        if terminated or truncated:
            break
    steps, max_steps = env.unwrapped.step_count, env.unwrapped.max_steps
    env.close()
    assert terminated and successes[-1] and not any(successes[:-1])
    assert reward == pytest.approx(1 - 0.9 * steps / max_steps)


def test_suite_step_cap_applies_through_the_spec(play):
    spec = dataclasses.replace(get_task("babyai-go-to-local"), max_episode_steps=5)
    env = make_env(spec)
    played = play(env, 0, [0] * 10)
    env.close()
    assert len(played.rewards) == 5 and played.truncated
