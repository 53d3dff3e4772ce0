"""Meta-World: all 50 v3 tasks as the observation dict contract.

Decisions (recorded in each TaskSpec's options, see catalog.METAWORLD_OPTIONS):
- Goal variants: Meta-World's MT1 benchmark draws 50 goal/object positions per task
  (`metaworld.MT1(name, seed=goal_set_seed)`); the episode's reset seed picks one,
  `seed % 50`, so 50 episodes with consecutive seeds visit every goal once, as MT1 evaluation
  does. An unseeded reset takes the next variant after the previous episode's.
- Goal observable (MT1's setting): the last 3 of the 39 observation values are the goal
  position, which the scripted experts and a goal-conditioned policy need.
- `continuous`: float32 (39,), Meta-World's observation (hand, gripper, objects, the previous
  frame's hand/gripper/objects, goal).
- Actions: Box(-1, 1, (4,), float32) (xyz hand displacement, gripper), clipped before stepping.
- 500 steps (Meta-World's max_path_length); an episode never terminates early, so `success` is
  "info['success'] at any step" (GATO.md Sec. 4).
- `info["success"]`: bool at every step, from Meta-World's own success test.
- Videos: the `corner` camera at 256 x 256, flipped vertically (Meta-World's corner cameras
  render upside down).

`env.unwrapped` is the Meta-World `SawyerXYZEnv` (for the scripted policies in
`metaworld.policies`).
"""

from __future__ import annotations

from functools import cache

import gymnasium
import numpy as np
from gymnasium import spaces

from gato_eval.suites.spec import TaskSpec

OBSERVATION_SIZE = 39
RENDER_CAMERA, RENDER_SIZE = "corner", 256


@cache
def _goal_set(env_name: str, goal_set_seed: int) -> tuple:
    """MT1's goal variants for one task (sampling them resets the env 50 times: about 2 s)."""
    import metaworld

    return tuple(metaworld.MT1(env_name, seed=goal_set_seed).train_tasks)


class MetaWorldTask(gymnasium.Wrapper):
    """Picks the goal variant from the reset seed; emits {"continuous"} and a bool success."""

    def __init__(self, env: gymnasium.Env, goal_variants: tuple):
        super().__init__(env)
        self.goal_variants = goal_variants
        self.variant: int | None = None  # the running episode's index into goal_variants
        self.observation_space = spaces.Dict(
            {"continuous": spaces.Box(-np.inf, np.inf, (OBSERVATION_SIZE,), np.float32)}
        )
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)

    def reset(self, *, seed=None, options=None):
        count = len(self.goal_variants)
        if seed is not None:
            self.variant = seed % count
        elif self.variant is not None:
            self.variant = (self.variant + 1) % count
        else:
            self.variant = int(np.random.default_rng().integers(count))
        self.env.unwrapped.set_task(self.goal_variants[self.variant])
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observation(obs), info

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["success"] = bool(info.get("success", 0.0))
        return self._observation(obs), float(reward), terminated, truncated, info

    def render(self):
        frame = self.env.render()
        return None if frame is None else np.ascontiguousarray(frame[::-1])

    @staticmethod
    def _observation(obs: np.ndarray) -> dict[str, np.ndarray]:
        return {"continuous": np.asarray(obs, dtype=np.float32)}


def make_env(spec: TaskSpec, render_mode: str | None = None) -> gymnasium.Env:
    """The Meta-World v3 task `spec.env_id` with seeded goal variants and a step cap."""
    import metaworld

    variants = _goal_set(spec.env_id, spec.options["goal_set_seed"])
    env_class = metaworld.ALL_V3_ENVIRONMENTS[spec.env_id]
    env = env_class(
        render_mode=render_mode, camera_name=RENDER_CAMERA, width=RENDER_SIZE, height=RENDER_SIZE
    )
    env = MetaWorldTask(env, variants)
    return gymnasium.wrappers.TimeLimit(env, max_episode_steps=spec.max_episode_steps)
