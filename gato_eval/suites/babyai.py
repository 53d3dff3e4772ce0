"""BabyAI: every level minigrid registers (`BabyAI-*-v0/v1`), as the observation dict contract.

Decisions (recorded in each TaskSpec's options, see catalog.BABYAI_OPTIONS):
- `text`: the mission string ("go to the red ball"), as Gato conditions on it (Sec. 3.1).
- `discrete`: int64 (148,): minigrid's symbolic partial view, a (7, 7, 3) array indexed
  (x, y, channel) with channels (object type, colour, state), flattened row-major, followed by
  the agent direction (0-3). Every value lies in [0, 10], well inside Gato's [0, 1024) range.
- Actions: Discrete(7), minigrid's (left, right, forward, pickup, drop, toggle, done).
- Episode length: minigrid's own `max_steps`, which BabyAI sets per episode from the mission
  (navigations needed x maze area); the task's `max_episode_steps` is its upper bound and only
  truncates earlier when a suite caps it.
- Reward: minigrid's, `1 - 0.9 * steps / max_steps` on success and 0 otherwise (GATO.md Sec. 4).
- `info["success"]`: True at the step where the mission is completed (terminated with reward
  > 0), False at every other step.

The minigrid env (for BabyAIBot demonstrators) is `env.unwrapped`.
"""

from __future__ import annotations

import contextlib
import io
import string

import gymnasium
import numpy as np
from gymnasium import spaces

from gato_eval.core.task_spec import TaskSpec

VIEW_SHAPE = (7, 7, 3)  # minigrid's default agent view: 7 x 7 cells, 3 channels
DISCRETE_SIZE = int(np.prod(VIEW_SHAPE)) + 1  # + agent direction = 148
NUM_ACTIONS = 7
# Missions are lower-case words, spaces and commas ("pick up a box, then go to the red door");
# the longest seen across all levels is under 200 characters.
MISSION_CHARSET = string.ascii_lowercase + string.digits + " ,'"
MISSION_MAX_LENGTH = 512


class BabyAIObservation(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """minigrid's {image, direction, mission} -> {"text", "discrete"}, plus `info["success"]`.

    Records its (no) constructor arguments, so `env.spec` re-makes the whole stack.
    """

    def __init__(self, env: gymnasium.Env):
        gymnasium.utils.RecordConstructorArgs.__init__(self)
        gymnasium.Wrapper.__init__(self, env)
        self.observation_space = spaces.Dict(
            {
                "text": spaces.Text(
                    max_length=MISSION_MAX_LENGTH, min_length=1, charset=MISSION_CHARSET
                ),
                "discrete": spaces.Box(0, 1023, (DISCRETE_SIZE,), np.int64),
            }
        )

    def reset(self, *, seed=None, options=None):
        # minigrid print()s "Sampling rejected: ..." while it redraws an unsolvable layout; that
        # is its normal level generation, not a problem, and it would tear progress bars apart.
        with contextlib.redirect_stdout(io.StringIO()):
            obs, info = self.env.reset(seed=seed, options=options)
        return self._observation(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        info["success"] = bool(terminated and reward > 0)
        return self._observation(obs), float(reward), terminated, truncated, info

    @staticmethod
    def _observation(obs: dict) -> dict:
        view = np.asarray(obs["image"], dtype=np.int64).reshape(-1)  # (147,) from (7, 7, 3)
        discrete = np.concatenate([view, np.array([obs["direction"]], dtype=np.int64)])
        return {"text": str(obs["mission"]), "discrete": discrete}


def make_env(spec: TaskSpec, render_mode: str | None = None) -> gymnasium.Env:
    """The BabyAI level `spec.env_id` with the observation contract and a step cap."""
    import minigrid  # noqa: F401  (importing it registers the BabyAI-* ids with gymnasium)

    env = gymnasium.make(spec.env_id, render_mode=render_mode, disable_env_checker=True)
    env = BabyAIObservation(env)
    return gymnasium.wrappers.TimeLimit(env, max_episode_steps=spec.max_episode_steps)
