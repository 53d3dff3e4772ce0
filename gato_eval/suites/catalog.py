"""The task catalog: every registered task as a `TaskSpec`, computed from static name lists.

Nothing here imports a simulator, so `gato-eval ls tasks` and the registry stay fast. The lists
mirror the real libraries (tests/suites/test_catalog.py checks them against ale-py, dm_control,
metaworld and minigrid); the wrapper stacks that honour each option live in the family modules
(`atari.py`, `dmc.py`, `metaworld.py`, `babyai.py`), whose docstrings explain every decision.

Task ids are file-safe `family-name`:
- atari:     `atari-<game>`, the Atari-57 game name in kebab case (`atari-montezuma-revenge`).
- dmc:       `dmc-<domain>-<task>`, underscores -> hyphens (`dmc-ball-in-cup-catch`).
- metaworld: `metaworld-<name>`, the v3 name without `-v3` (`metaworld-button-press-topdown`).
- babyai:    `babyai-<level>`, the level name of `BabyAI-<Level>-v<k>` split before each capital
             into lower-case words, where a size/count suffix such as `S5N2`, `S4R2`, `N4` or `S8`
             stays one word (`BabyAI-GoToLocalS5N2-v0` -> `babyai-go-to-local-s5n2`,
             `BabyAI-PutNextS5N2Carrying-v0` -> `babyai-put-next-s5n2-carrying`). The gym version is
             dropped: each level is registered under one version only. This is the rule the JAT
             project used, so its BabyAI rows map by name.
- procgen:   `procgen-<game>`, Procgen's own game name (`procgen-bigfish`); env_id is that name,
             the `env_name` of `procgen.ProcgenGym3Env`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from gato_eval.core.task_spec import TaskSpec

# The 57 games of the Atari-57 benchmark (DQN, Agent57), named as in the random/human score
# table (../shared/reference/atari57_random_human.csv); the ALE name is the CamelCase join.
ATARI_57 = (
    "alien", "amidar", "assault", "asterix", "asteroids", "atlantis", "bank_heist",
    "battle_zone", "beam_rider", "berzerk", "bowling", "boxing", "breakout", "centipede",
    "chopper_command", "crazy_climber", "defender", "demon_attack", "double_dunk", "enduro",
    "fishing_derby", "freeway", "frostbite", "gopher", "gravitar", "hero", "ice_hockey",
    "jamesbond", "kangaroo", "krull", "kung_fu_master", "montezuma_revenge", "ms_pacman",
    "name_this_game", "phoenix", "pitfall", "pong", "private_eye", "qbert", "riverraid",
    "road_runner", "robotank", "seaquest", "skiing", "solaris", "space_invaders", "star_gunner",
    "surround", "tennis", "time_pilot", "tutankham", "up_n_down", "venture", "video_pinball",
    "wizard_of_wor", "yars_revenge", "zaxxon",
)  # fmt: skip

# dm_control.suite.BENCHMARKING, with each task's action dimension (all bounded to [-1, 1]).
DMC_BENCHMARKING = (
    ("acrobot", "swingup", 1), ("acrobot", "swingup_sparse", 1), ("ball_in_cup", "catch", 2),
    ("cartpole", "balance", 1), ("cartpole", "balance_sparse", 1), ("cartpole", "swingup", 1),
    ("cartpole", "swingup_sparse", 1), ("cheetah", "run", 6), ("finger", "spin", 2),
    ("finger", "turn_easy", 2), ("finger", "turn_hard", 2), ("fish", "upright", 5),
    ("fish", "swim", 5), ("hopper", "stand", 4), ("hopper", "hop", 4), ("humanoid", "stand", 21),
    ("humanoid", "walk", 21), ("humanoid", "run", 21), ("manipulator", "bring_ball", 5),
    ("pendulum", "swingup", 1), ("point_mass", "easy", 2), ("reacher", "easy", 2),
    ("reacher", "hard", 2), ("swimmer", "swimmer6", 5), ("swimmer", "swimmer15", 14),
    ("walker", "stand", 6), ("walker", "walk", 6), ("walker", "run", 6),
)  # fmt: skip

# metaworld.env_dict.ALL_V3_ENVIRONMENTS, without the `-v3` suffix.
METAWORLD_V3 = (
    "assembly", "basketball", "bin-picking", "box-close", "button-press-topdown",
    "button-press-topdown-wall", "button-press", "button-press-wall", "coffee-button",
    "coffee-pull", "coffee-push", "dial-turn", "disassemble", "door-close", "door-lock",
    "door-open", "door-unlock", "hand-insert", "drawer-close", "drawer-open", "faucet-open",
    "faucet-close", "hammer", "handle-press-side", "handle-press", "handle-pull-side",
    "handle-pull", "lever-pull", "pick-place-wall", "pick-out-of-hole", "pick-place",
    "plate-slide", "plate-slide-side", "plate-slide-back", "plate-slide-back-side",
    "peg-insert-side", "peg-unplug-side", "soccer", "stick-push", "stick-pull", "push",
    "push-wall", "push-back", "reach", "reach-wall", "shelf-place", "sweep-into", "sweep",
    "window-open", "window-close",
)  # fmt: skip

# Every BabyAI level minigrid registers, with the largest `max_steps` minigrid can give it.
# minigrid sets a level's max_steps either once (fixed) or at every reset as
# (navigations the mission needs) x room_size**2 x rows x cols, so sequence missions get more
# time. The bound is that formula at the largest navigation count the level's mission grammar
# can produce (4 sub-instructions, 2 navigations each for put-next); the episode itself always
# ends at minigrid's own per-episode limit, which is never above the bound.
BABYAI_LEVELS = (
    ("BabyAI-GoToRedBallGrey-v0", 64), ("BabyAI-GoToRedBall-v0", 64),
    ("BabyAI-GoToRedBallNoDists-v0", 64), ("BabyAI-GoToObj-v0", 64), ("BabyAI-GoToObjS4-v0", 16),
    ("BabyAI-GoToObjS6-v1", 36), ("BabyAI-GoToLocal-v0", 64), ("BabyAI-GoToLocalS5N2-v0", 25),
    ("BabyAI-GoToLocalS6N2-v0", 36), ("BabyAI-GoToLocalS6N3-v0", 36),
    ("BabyAI-GoToLocalS6N4-v0", 36), ("BabyAI-GoToLocalS7N4-v0", 49),
    ("BabyAI-GoToLocalS7N5-v0", 49), ("BabyAI-GoToLocalS8N2-v0", 64),
    ("BabyAI-GoToLocalS8N3-v0", 64), ("BabyAI-GoToLocalS8N4-v0", 64),
    ("BabyAI-GoToLocalS8N5-v0", 64), ("BabyAI-GoToLocalS8N6-v0", 64),
    ("BabyAI-GoToLocalS8N7-v0", 64), ("BabyAI-GoTo-v0", 576), ("BabyAI-GoToOpen-v0", 576),
    ("BabyAI-GoToObjMaze-v0", 576), ("BabyAI-GoToObjMazeOpen-v0", 576),
    ("BabyAI-GoToObjMazeS4R2-v0", 64), ("BabyAI-GoToObjMazeS4-v0", 144),
    ("BabyAI-GoToObjMazeS5-v0", 225), ("BabyAI-GoToObjMazeS6-v0", 324),
    ("BabyAI-GoToObjMazeS7-v0", 441), ("BabyAI-GoToImpUnlock-v0", 576),
    ("BabyAI-GoToSeq-v0", 2304), ("BabyAI-GoToSeqS5R2-v0", 400),
    ("BabyAI-GoToRedBlueBall-v0", 64), ("BabyAI-GoToDoor-v0", 441),
    ("BabyAI-GoToObjDoor-v0", 576), ("BabyAI-Open-v0", 576), ("BabyAI-OpenRedDoor-v0", 50),
    ("BabyAI-OpenDoor-v0", 576), ("BabyAI-OpenDoorDebug-v0", 576),
    ("BabyAI-OpenDoorColor-v0", 576), ("BabyAI-OpenDoorLoc-v0", 576),
    ("BabyAI-OpenTwoDoors-v0", 720), ("BabyAI-OpenRedBlueDoors-v0", 720),
    ("BabyAI-OpenRedBlueDoorsDebug-v0", 720), ("BabyAI-OpenDoorsOrderN2-v0", 720),
    ("BabyAI-OpenDoorsOrderN4-v0", 720), ("BabyAI-OpenDoorsOrderN2Debug-v0", 720),
    ("BabyAI-OpenDoorsOrderN4Debug-v0", 720), ("BabyAI-Pickup-v0", 576),
    ("BabyAI-UnblockPickup-v0", 576), ("BabyAI-PickupLoc-v0", 64), ("BabyAI-PickupDist-v0", 49),
    ("BabyAI-PickupDistDebug-v0", 49), ("BabyAI-PickupAbove-v0", 288),
    ("BabyAI-PutNextLocal-v0", 128), ("BabyAI-PutNextLocalS5N3-v0", 50),
    ("BabyAI-PutNextLocalS6N4-v0", 72), ("BabyAI-PutNextS4N1-v0", 128),
    ("BabyAI-PutNextS5N2-v0", 200), ("BabyAI-PutNextS5N1-v0", 200),
    ("BabyAI-PutNextS6N3-v0", 288), ("BabyAI-PutNextS7N4-v0", 392),
    ("BabyAI-PutNextS5N2Carrying-v0", 200), ("BabyAI-PutNextS6N3Carrying-v0", 288),
    ("BabyAI-PutNextS7N4Carrying-v0", 392), ("BabyAI-Unlock-v0", 576),
    ("BabyAI-UnlockLocal-v0", 576), ("BabyAI-UnlockLocalDist-v0", 576),
    ("BabyAI-KeyInBox-v0", 576), ("BabyAI-UnlockPickup-v0", 72),
    ("BabyAI-UnlockPickupDist-v0", 72), ("BabyAI-BlockedUnlockPickup-v0", 576),
    ("BabyAI-UnlockToUnlock-v0", 1080), ("BabyAI-ActionObjDoor-v0", 441),
    ("BabyAI-FindObjS5-v0", 500), ("BabyAI-FindObjS6-v0", 720), ("BabyAI-FindObjS7-v0", 980),
    ("BabyAI-KeyCorridor-v0", 1080), ("BabyAI-KeyCorridorS3R1-v0", 270),
    ("BabyAI-KeyCorridorS3R2-v0", 270), ("BabyAI-KeyCorridorS3R3-v0", 270),
    ("BabyAI-KeyCorridorS4R3-v0", 480), ("BabyAI-KeyCorridorS5R3-v0", 750),
    ("BabyAI-KeyCorridorS6R3-v0", 1080), ("BabyAI-OneRoomS8-v0", 64),
    ("BabyAI-OneRoomS12-v0", 144), ("BabyAI-OneRoomS16-v0", 256), ("BabyAI-OneRoomS20-v0", 400),
    ("BabyAI-MoveTwoAcrossS5N2-v0", 400), ("BabyAI-MoveTwoAcrossS8N9-v0", 1024),
    ("BabyAI-Synth-v0", 1152), ("BabyAI-SynthS5R2-v0", 300), ("BabyAI-SynthLoc-v0", 1152),
    ("BabyAI-SynthSeq-v0", 4608), ("BabyAI-MiniBossLevel-v0", 800),
    ("BabyAI-BossLevel-v0", 4608), ("BabyAI-BossLevelNoUnlock-v0", 4608),
)  # fmt: skip

# Procgen Benchmark's 16 games (procgen.env.ENV_NAMES), each with the episode timeout its C++ game
# sets (Game::timeout: 1,000 steps unless the game overrides it; jumper's 2,000 is memory mode
# only) and the distribution mode Gato's Procgen data used: hard, except maze and heist, which
# were set to easy (Reed et al., 2022, App. F.6).
PROCGEN_GAMES = (
    ("bigfish", 6000, "hard"), ("bossfight", 4000, "hard"), ("caveflyer", 1000, "hard"),
    ("chaser", 1000, "hard"), ("climber", 1000, "hard"), ("coinrun", 1000, "hard"),
    ("dodgeball", 1000, "hard"), ("fruitbot", 1000, "hard"), ("heist", 1000, "easy"),
    ("jumper", 1000, "hard"), ("leaper", 500, "hard"), ("maze", 500, "easy"),
    ("miner", 1000, "hard"), ("ninja", 1000, "hard"), ("plunder", 4000, "hard"),
    ("starpilot", 1000, "hard"),
)  # fmt: skip
# Procgen's standard generalization protocol (Cobbe et al., 2020): train on the first
# 200 (easy) or 500 (hard) levels, test on the full level distribution.
PROCGEN_TRAIN_LEVELS = {"easy": 200, "hard": 500}

# Where each family's wrapper stack lives, as "module:attr" so that the registry imports a
# simulator only when an environment is actually made.
FAMILY_MAKERS = {
    "atari": "gato_eval.suites.atari:make_env",
    "dmc": "gato_eval.suites.dmc:make_env",
    "metaworld": "gato_eval.suites.metaworld:make_env",
    "babyai": "gato_eval.suites.babyai:make_env",
    "procgen": "gato_eval.suites.procgen:make_env",
}
# The families whose episodes need `reset(options=...)`, and the hook (same form) that derives
# them from (spec, run seed, episode index); the others reset with options=None.
FAMILY_RESET_OPTIONS = {
    "metaworld": "gato_eval.suites.metaworld:reset_options",
}

# The options every task of a family records (see each family module's docstring for why).
# `make_env(task, **overrides)` may change the adjustable ones; the fixed ones are decisions the
# wrapper stack implements one way only, recorded so that a run states them.
ATARI_OPTIONS: dict[str, Any] = {
    "frameskip": 4,
    "repeat_action_probability": 0.25,
    "full_action_space": True,
    "image_height": 80,
    "image_width": 64,
    "max_num_frames_per_episode": 108_000,
    "noop_max": 0,
    "reward_clipping": False,
    "terminal_on_life_loss": False,
}
DMC_OPTIONS: dict[str, Any] = {
    "pixels": False,
    "image_height": 64,
    "image_width": 64,
    "camera_id": 0,
    "observation_order": "sorted keys, each flattened row-major",
    "action_bounds": [-1.0, 1.0],
}
METAWORLD_OPTIONS: dict[str, Any] = {
    "goal_observable": True,
    "goal_set": "MT1",
    "goal_set_seed": 0,
    "goal_variants": 50,
    # Replaced "goal_choice": "reset seed % goal_variants" (variants drawn with replacement), so
    # a run or data set recorded under the old rule has another task spec (metaworld.py).
    "goal_variant_rule": (
        "episode i: perm[i % goal_variants], perm = the variants sorted by "
        "sha256('gato-eval/metaworld-goals/{run_seed}/{task_id}/{variant}')"
    ),
}
BABYAI_OPTIONS: dict[str, Any] = {
    "discrete_layout": "7x7x3 symbolic view (x, y, channel) row-major, then agent direction",
    "max_steps": "minigrid's own per episode (max_episode_steps is its upper bound)",
    "reward": "minigrid: 1 - 0.9 * steps / max_steps on success, else 0",
}
# Procgen's own rendering options keep Procgen's defaults; `distribution_mode` is per game.
PROCGEN_OPTIONS: dict[str, Any] = {
    "level_set": "test",
    "train_start_level": 0,
    "level_rule": (
        "one level per episode (num_levels=1): test = reset seed mod (2**31 - 1), Procgen's full "
        "distribution; train = train_start_level + reset seed mod train_num_levels"
    ),
    "episode_limit": "the game's own timeout (max_episode_steps); ending there is a truncation",
    "image": "Procgen's 64x64 RGB observation, unscaled",
    "actions": "Procgen's 15 button combinations",
    "reward": "raw game reward, unclipped",
    "center_agent": True,
    "use_backgrounds": True,
    "use_monochrome_assets": False,
    "restrict_themes": False,
    "use_generated_assets": False,
    "paint_vel_info": False,
}
FIXED_OPTIONS = {
    "atari": ("max_num_frames_per_episode", "noop_max", "reward_clipping", "terminal_on_life_loss"),
    "dmc": ("observation_order", "action_bounds"),
    "metaworld": ("goal_observable", "goal_set", "goal_variants", "goal_variant_rule"),
    "babyai": tuple(BABYAI_OPTIONS),
    "procgen": ("level_rule", "episode_limit", "image", "actions", "reward"),
}

ATARI_MAX_STEPS = 27_000  # 108,000 frames at frameskip 4 = 30 minutes of play at 60 Hz
DMC_MAX_STEPS = 1_000  # every BENCHMARKING task: 1000 control steps, reward in [0, 1] per step
METAWORLD_MAX_STEPS = 500  # Meta-World's max_path_length


def atari_game_env_name(game: str) -> str:
    """`'montezuma_revenge'` -> `'MontezumaRevenge'` (the ALE game name)."""
    return "".join(part.capitalize() for part in game.split("_"))


def babyai_task_id(gym_id: str) -> str:
    """`'BabyAI-GoToLocalS5N2-v0'` -> `'babyai-go-to-local-s5n2'` (rule in the module docstring)."""
    level = gym_id.split("-")[1]
    words = re.findall(r"(?:[SNR]\d+)+|[A-Z][a-z]*", level)
    if "".join(words) != level:
        raise ValueError(f"BabyAI level name does not follow the naming rule: {gym_id}")
    return "babyai-" + "-".join(word.lower() for word in words)


def _atari_specs() -> list[TaskSpec]:
    return [
        TaskSpec(
            task_id="atari-" + game.replace("_", "-"),
            family="atari",
            env_id=f"ALE/{atari_game_env_name(game)}-v5",
            max_episode_steps=ATARI_MAX_STEPS,
            has_success=False,
            options=dict(ATARI_OPTIONS),
            action_space="Discrete(18)",
        )
        for game in ATARI_57
    ]


def _dmc_specs() -> list[TaskSpec]:
    return [
        TaskSpec(
            task_id=f"dmc-{domain}-{task}".replace("_", "-"),
            family="dmc",
            env_id=f"{domain}/{task}",
            max_episode_steps=DMC_MAX_STEPS,
            has_success=False,
            options=dict(DMC_OPTIONS),
            action_space=f"Box(-1.0, 1.0, ({action_dim},), float32)",
        )
        for domain, task, action_dim in DMC_BENCHMARKING
    ]


def _metaworld_specs() -> list[TaskSpec]:
    return [
        TaskSpec(
            task_id=f"metaworld-{name}",
            family="metaworld",
            env_id=f"{name}-v3",
            max_episode_steps=METAWORLD_MAX_STEPS,
            has_success=True,
            options=dict(METAWORLD_OPTIONS),
            action_space="Box(-1.0, 1.0, (4,), float32)",
        )
        for name in METAWORLD_V3
    ]


def _babyai_specs() -> list[TaskSpec]:
    return [
        TaskSpec(
            task_id=babyai_task_id(gym_id),
            family="babyai",
            env_id=gym_id,
            max_episode_steps=max_steps,
            has_success=True,
            options=dict(BABYAI_OPTIONS),
            action_space="Discrete(7)",
        )
        for gym_id, max_steps in BABYAI_LEVELS
    ]


def _procgen_specs() -> list[TaskSpec]:
    return [
        TaskSpec(
            task_id=f"procgen-{game}",
            family="procgen",
            env_id=game,
            max_episode_steps=timeout,
            has_success=True,
            options={
                "distribution_mode": mode,
                "train_num_levels": PROCGEN_TRAIN_LEVELS[mode],
                **PROCGEN_OPTIONS,
            },
            action_space="Discrete(15)",
        )
        for game, timeout, mode in PROCGEN_GAMES
    ]


@cache
def catalog() -> dict[str, TaskSpec]:
    """task id -> TaskSpec for every registered task, families in FAMILIES order."""
    specs = _atari_specs() + _dmc_specs() + _metaworld_specs() + _babyai_specs()
    specs += _procgen_specs()
    table = {spec.task_id: spec for spec in specs}
    if len(table) != len(specs):
        raise AssertionError("two catalog entries map to the same task id")
    return table
