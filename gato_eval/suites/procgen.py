"""Procgen: the 16 games of the Procgen Benchmark (Cobbe et al., 2020) as the observation dict
contract, one seeded level per episode.

Decisions (recorded in each TaskSpec's options, see catalog.PROCGEN_OPTIONS):
- Procgen's own gym3 interface (`procgen.ProcgenGym3Env`), not its old-gym registration: the
  Gymnasium env here is a thin layer over one gym3 env, so old `gym` never enters the
  dependency set (`procgen_env_class` says how the package is imported without it).
- `image`: uint8 (64, 64, 3), Procgen's observation as it is (4 x 4 = 16 of Gato's 16-pixel
  patches). Actions: Discrete(15), Procgen's button combinations, the same for every game.
- Distribution mode: hard, except maze and heist (easy), as in Gato's Procgen data (App. F.6);
  an option, since the published normalization constants exist for both modes.
- Levels: every episode plays exactly one level, chosen from its reset seed: `level_set="test"`
  draws from Procgen's full distribution (its `num_levels=0`, level seeds in [0, 2**31 - 1));
  `"train"` from the standard training levels `[train_start_level, + train_num_levels)` (200 for
  easy, 500 for hard). The gym3 env is made anew at each reset with `start_level=level,
  num_levels=1`: a level seed fixes the whole episode (Procgen seeds the game's generator with
  it), so the same reset seed and actions replay the same frames and rewards. Re-making the env
  costs about a millisecond; only the first one in a process loads Procgen's assets.
- Episode end: Procgen's own end of an episode (level complete, death, or the game's timeout,
  recorded as the spec's `max_episode_steps`). Ending at the timeout without completing the
  level is a truncation; any other end terminates. Procgen resets inside the step that ends an
  episode, so the observation returned with that step is the level's restart frame: the rollout
  engine never acts on it (it resets first).
- Rewards raw; `info["success"]` is Procgen's `prev_level_complete` on the last step.
- `render_mode="rgb_array"`: `render()` returns Procgen's 512 x 512 human view (videos).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.suites.catalog import PROCGEN_GAMES

IMAGE_SHAPE = (64, 64, 3)
NUM_ACTIONS = 15
DISTRIBUTION_MODES = ("easy", "hard")  # the modes with published normalization constants
TEST_LEVELS = 2**31 - 1  # Procgen's num_levels=0 draws level seeds from [0, INT32_MAX)
LEVEL_SETS = ("test", "train")
GAME_TIMEOUTS = {game: timeout for game, timeout, _ in PROCGEN_GAMES}
RENDERING_OPTIONS = (
    "center_agent",
    "use_backgrounds",
    "use_monochrome_assets",
    "restrict_themes",
    "use_generated_assets",
    "paint_vel_info",
)
INSTALL_HINT = (
    'pip install "gato-eval[procgen]" && pip install --no-deps procgen-mirror==0.10.7 gym3==0.3.3'
)
_GYM_REGISTRATION = ("gym", "gym.envs", "gym.envs.registration")


def procgen_env_class() -> type:
    """`procgen.ProcgenGym3Env`, imported without old `gym` installed.

    `procgen/__init__.py` registers `procgen-*-v0` ids with old gym on import, and that is its
    only use of gym; the gym3 env used here never calls it. Where gym is absent, a registration
    hook that records nothing stands in for `gym.envs.registration` during that import only,
    then leaves `sys.modules`, so no other code ever sees a `gym` module.
    """
    if "procgen" not in sys.modules and importlib.util.find_spec("gym") is None:
        modules = {name: types.ModuleType(name) for name in _GYM_REGISTRATION}
        modules["gym.envs.registration"].register = lambda **_: None
        sys.modules.update(modules)
        try:
            return _import_procgen().ProcgenGym3Env
        finally:
            for name in _GYM_REGISTRATION:
                sys.modules.pop(name, None)
    return _import_procgen().ProcgenGym3Env


def check_installed() -> None:
    """Refuse, in one line, where Procgen is not installed (without importing it: cheap enough
    for a run to check before it plays hours of other tasks first)."""
    import importlib.util

    missing = [
        name for name in ("procgen", "gym3", "cffi") if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise GatoEvalError(
            f"Procgen tasks need {', '.join(missing)}, which is not installed; install it with: "
            f"{INSTALL_HINT}"
        )


def _import_procgen():
    try:
        import procgen
    except ImportError as err:
        raise GatoEvalError(
            f"Procgen tasks need the procgen package ({err}); install it with: {INSTALL_HINT}"
        ) from None
    return procgen


def level_seed(options: dict, seed: int) -> int:
    """The Procgen level an episode reset with `seed` plays (rule in the module docstring)."""
    if options["level_set"] == "test":
        return int(seed) % TEST_LEVELS
    return options["train_start_level"] + int(seed) % options["train_num_levels"]


class ProcgenLevelEnv(gymnasium.Env):
    """One Procgen game behind the observation contract: {"image": uint8 (64, 64, 3)},
    Discrete(15), one level per episode chosen from the reset seed."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, spec: TaskSpec, render_mode: str | None = None):
        self.game = spec.env_id
        self.settings = dict(spec.options)
        self.timeout = GAME_TIMEOUTS[self.game]
        self.render_mode = render_mode
        self.observation_space = spaces.Dict({"image": spaces.Box(0, 255, IMAGE_SHAPE, np.uint8)})
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self.level: int | None = None
        self._make_game = procgen_env_class()
        self._game = None
        self._steps = 0
        self._action = np.zeros(1, np.int32)  # (num=1,): gym3 acts on a batch of one

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # Unseeded resets continue the stream of the last seeded one, as gymnasium envs do.
        drawn = seed if seed is not None else int(self.np_random.integers(TEST_LEVELS))
        self.level = level_seed(self.settings, drawn)
        self._close_game()
        self._game = self._make_game(
            num=1,
            env_name=self.game,
            distribution_mode=self.settings["distribution_mode"],
            start_level=self.level,
            num_levels=1,
            rand_seed=0,  # unused with one level; fixed so nothing is drawn from the OS
            num_threads=0,  # step in this thread: the rollout engine owns the parallelism
            render_mode=self.render_mode,
            **{name: self.settings[name] for name in RENDERING_OPTIONS},
        )
        self._steps = 0
        _, observation, _ = self._game.observe()
        return {"image": observation["rgb"][0]}, {"level_seed": self.level}

    def step(self, action):
        if self._game is None:
            raise RuntimeError("step() before reset()")
        self._action[0] = int(action)
        self._game.act(self._action)
        reward, observation, first = self._game.observe()  # (1,), {"rgb": (1, 64, 64, 3)}, (1,)
        info = self._game.get_info()[0]
        self._steps += 1
        done = bool(first[0])  # gym3: the next observation starts a new episode
        complete = done and bool(info["prev_level_complete"])
        truncated = done and not complete and self._steps >= self.timeout
        return (
            {"image": observation["rgb"][0]},
            float(reward[0]),
            done and not truncated,
            truncated,
            {"success": complete, "level_seed": self.level},
        )

    def render(self):
        if self.render_mode != "rgb_array" or self._game is None:
            return None
        return self._game.get_info()[0]["rgb"]  # (512, 512, 3) uint8

    def close(self):
        self._close_game()
        super().close()

    def _close_game(self) -> None:
        if self._game is not None:
            self._game.close()
            self._game = None


def make_env(spec: TaskSpec, render_mode: str | None = None) -> gymnasium.Env:
    """The Procgen game `spec.env_id` with the contract's image and a step cap."""
    options = spec.options
    if spec.env_id not in GAME_TIMEOUTS:
        raise GatoEvalError(f"unknown Procgen game {spec.env_id!r}")
    if options["distribution_mode"] not in DISTRIBUTION_MODES:
        raise GatoEvalError(
            f"Procgen distribution_mode must be one of {', '.join(DISTRIBUTION_MODES)}, "
            f"got {options['distribution_mode']!r}"
        )
    if options["level_set"] not in LEVEL_SETS:
        raise GatoEvalError(
            f"Procgen level_set must be 'test' or 'train', got {options['level_set']!r}"
        )
    if options["train_num_levels"] < 1 or options["train_start_level"] < 0:
        raise GatoEvalError("Procgen train_num_levels must be >= 1 and train_start_level >= 0")
    if options["train_start_level"] + options["train_num_levels"] > TEST_LEVELS:
        raise GatoEvalError(f"Procgen training levels must lie below {TEST_LEVELS}")
    env = ProcgenLevelEnv(spec, render_mode=render_mode)
    return gymnasium.wrappers.TimeLimit(env, max_episode_steps=spec.max_episode_steps)
