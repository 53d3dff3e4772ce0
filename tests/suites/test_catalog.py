"""The static task lists agree with the real libraries, and ids follow the documented rules."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gato_eval.suites.catalog import (
    ATARI_57,
    BABYAI_LEVELS,
    DMC_BENCHMARKING,
    METAWORLD_V3,
    atari_game_env_name,
    babyai_task_id,
    catalog,
)


def test_atari_57_are_the_reference_table_games_and_exist_in_ale():
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    packaged = (
        Path(__file__).resolve().parents[2]
        / "gato_eval/scores/reference_data/atari57_random_human.csv"
    )
    rows = [line for line in packaged.read_text().splitlines() if not line.startswith("#")]
    games = [row["game"] for row in csv.DictReader(rows)]
    assert tuple(games) == ATARI_57 and len(ATARI_57) == 57
    registered = set(gymnasium.registry)
    missing = [g for g in ATARI_57 if f"ALE/{atari_game_env_name(g)}-v5" not in registered]
    assert missing == []


def test_dmc_list_is_dm_control_benchmarking_with_its_action_sizes():
    from dm_control import suite

    assert [(d, t) for d, t, _ in DMC_BENCHMARKING] == list(suite.BENCHMARKING)
    for domain, task, action_size in DMC_BENCHMARKING:
        env = suite.load(domain, task)
        assert env.action_spec().shape == (action_size,), (domain, task)
        env.close()


def test_metaworld_list_is_all_v3_environments():
    import metaworld

    assert [f"{name}-v3" for name in METAWORLD_V3] == list(metaworld.ALL_V3_ENVIRONMENTS)
    assert len(METAWORLD_V3) == 50


def test_babyai_list_is_every_level_minigrid_registers():
    import gymnasium
    import minigrid  # noqa: F401  (registers the levels)

    registered = [env_id for env_id in gymnasium.registry if env_id.startswith("BabyAI-")]
    assert sorted(registered) == sorted(gym_id for gym_id, _ in BABYAI_LEVELS)


def test_babyai_step_bounds_follow_minigrid_rules():
    # The bound is minigrid's fixed max_steps, or nav_time x the most navigations the level's
    # mission grammar can ask for; levels whose missions have one fixed shape are reset to see it.
    import gymnasium
    from minigrid.envs.babyai.core.levelgen import LevelGen

    for gym_id, bound in BABYAI_LEVELS:
        env = gymnasium.make(gym_id).unwrapped
        if env.fixed_max_steps:
            expected = env.max_steps
        else:
            maze = env.room_size**2 * env.num_rows * env.num_cols
            if isinstance(env, LevelGen):
                leaves = 4 if "seq" in env.instr_kinds else 2 if "and" in env.instr_kinds else 1
                expected = maze * leaves * (2 if "putnext" in env.action_kinds else 1)
            else:
                env.reset(seed=0)
                expected = env.max_steps
        assert bound == expected, gym_id


@pytest.mark.parametrize(
    ("gym_id", "task_id"),
    [
        ("BabyAI-GoToLocal-v0", "babyai-go-to-local"),
        ("BabyAI-GoToRedBall-v0", "babyai-go-to-red-ball"),
        ("BabyAI-GoToLocalS5N2-v0", "babyai-go-to-local-s5n2"),
        ("BabyAI-GoToObjMazeS4R2-v0", "babyai-go-to-obj-maze-s4r2"),
        ("BabyAI-PutNextS5N2Carrying-v0", "babyai-put-next-s5n2-carrying"),
        ("BabyAI-OpenDoorsOrderN4Debug-v0", "babyai-open-doors-order-n4-debug"),
        ("BabyAI-GoToObjS6-v1", "babyai-go-to-obj-s6"),
        ("BabyAI-OneRoomS20-v0", "babyai-one-room-s20"),
    ],
)
def test_babyai_kebab_rule(gym_id, task_id):
    assert babyai_task_id(gym_id) == task_id


def test_task_ids_are_file_safe_unique_and_named_by_family():
    table = catalog()
    assert len(table) == 57 + 28 + 50 + 96 + 16
    for task_id, spec in table.items():
        assert task_id == spec.task_id and task_id.startswith(spec.family + "-")
        assert task_id == task_id.lower() and all(c.isalnum() or c == "-" for c in task_id)
    assert table["atari-montezuma-revenge"].env_id == "ALE/MontezumaRevenge-v5"
    assert table["atari-up-n-down"].env_id == "ALE/UpNDown-v5"
    assert table["dmc-ball-in-cup-catch"].env_id == "ball_in_cup/catch"
    assert table["dmc-point-mass-easy"].env_id == "point_mass/easy"
    assert table["metaworld-assembly"].env_id == "assembly-v3"
    assert table["procgen-bigfish"].env_id == "bigfish"


def test_every_decision_is_recorded_in_the_options():
    table = catalog()
    atari = table["atari-boxing"].options
    assert atari["frameskip"] == 4 and atari["repeat_action_probability"] == 0.25
    assert atari["full_action_space"] and not atari["reward_clipping"]
    assert not atari["terminal_on_life_loss"] and atari["noop_max"] == 0
    assert (atari["image_height"], atari["image_width"]) == (80, 64)
    assert table["atari-boxing"].max_episode_steps == 27_000
    assert table["dmc-cartpole-swingup"].max_episode_steps == 1000
    assert table["metaworld-assembly"].max_episode_steps == 500
    assert table["metaworld-assembly"].has_success and table["babyai-go-to-local"].has_success
    assert not table["dmc-cartpole-swingup"].has_success
