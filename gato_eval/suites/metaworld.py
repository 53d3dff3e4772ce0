"""Meta-World: all 50 v3 tasks as the observation dict contract.

Decisions (recorded in each TaskSpec's options, see catalog.METAWORLD_OPTIONS):
- Goal variants: Meta-World's MT1 benchmark draws 50 goal/object positions per task
  (`metaworld.MT1(name, seed=goal_set_seed)`), and they are the whole of an episode's initial
  state (Meta-World ignores the reset seed), so a deterministic policy replays a variant
  exactly. Episode i of a run gets variant `perm[i % 50]`, `perm` a permutation of the 50
  variants seeded by (run seed, task id) (`goal_variant`): every 50 consecutive episodes of a
  task visit each goal exactly once, as MT1 evaluation does, whatever `--envs`, resuming or the
  backend. The rollout engine passes the variant as `reset(options={"goal_variant": v})`
  (`reset_options`). A reset without that option (a user's own loop) picks `seed % 50`, and an
  unseeded one the next variant after the previous episode's. The old rule (the episode's
  sha256-derived reset seed % 50) drew variants with replacement: 27-38 distinct goals in 50
  episodes; runs and data sets recorded under it carry `goal_choice` instead of
  `goal_variant_rule` in their task spec, so they are never pooled with new ones.
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

import hashlib
from functools import cache
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from gato_eval.core.task_spec import TaskSpec

OBSERVATION_SIZE = 39
RENDER_CAMERA, RENDER_SIZE = "corner", 256
GOAL_VARIANT_OPTION = "goal_variant"  # the reset option that names the episode's variant


@cache
def goal_variant_order(run_seed: int, task_id: str, count: int) -> tuple[int, ...]:
    """`perm`: the `count` variant indices in the order the episodes of (run seed, task) visit
    them, sorted by sha256("gato-eval/metaworld-goals/{run_seed}/{task_id}/{variant}"): a
    permutation stable across machines and versions, independent between tasks and run seeds.
    The task spec records this rule as `goal_variant_rule` (catalog.METAWORLD_OPTIONS)."""

    def key(variant: int) -> bytes:
        return hashlib.sha256(
            f"gato-eval/metaworld-goals/{int(run_seed)}/{task_id}/{variant}".encode()
        ).digest()

    return tuple(sorted(range(count), key=key))


def goal_variant(run_seed: int, task_id: str, episode_index: int, count: int) -> int:
    """The goal variant of episode `episode_index`: `perm[episode_index % count]`."""
    return goal_variant_order(run_seed, task_id, count)[int(episode_index) % count]


def reset_options(spec: TaskSpec, run_seed: int, episode_index: int) -> dict[str, Any]:
    """What the rollout engine passes to `reset(options=...)` for this episode."""
    count = int(spec.options["goal_variants"])
    return {GOAL_VARIANT_OPTION: goal_variant(run_seed, spec.task_id, episode_index, count)}


@cache
def _goal_set(env_name: str, goal_set_seed: int) -> tuple:
    """MT1's goal variants for one task (sampling them resets the env 50 times: about 2 s)."""
    import metaworld

    return tuple(metaworld.MT1(env_name, seed=goal_set_seed).train_tasks)


class MetaWorldTask(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Sets the goal variant the reset asks for; emits {"continuous"} and a bool success.

    A seeded reset also seeds Meta-World's own generator (its `reset` ignores the seed), which
    Gymnasium's seeding contract and env checker expect; with a goal variant set, Meta-World
    draws nothing from it, so episodes do not change.
    """

    def __init__(self, env: gymnasium.Env, goal_variants: tuple):
        gymnasium.utils.RecordConstructorArgs.__init__(self, goal_variants=goal_variants)
        gymnasium.Wrapper.__init__(self, env)
        self.goal_variants = goal_variants
        self.variant: int | None = None  # the running episode's index into goal_variants
        self.observation_space = spaces.Dict(
            {"continuous": spaces.Box(-np.inf, np.inf, (OBSERVATION_SIZE,), np.float32)}
        )
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)

    def reset(self, *, seed=None, options=None):
        count = len(self.goal_variants)
        options = dict(options or {})
        chosen = options.pop(GOAL_VARIANT_OPTION, None)
        if chosen is not None:
            if not (isinstance(chosen, int | np.integer) and 0 <= chosen < count):
                raise ValueError(f"goal_variant must be an integer in [0, {count}), got {chosen!r}")
            self.variant = int(chosen)
        elif seed is not None:
            self.variant = seed % count
        elif self.variant is not None:
            self.variant = (self.variant + 1) % count
        else:
            self.variant = int(np.random.default_rng().integers(count))
        self.env.unwrapped.set_task(self.goal_variants[self.variant])
        if seed is not None:
            self.env.unwrapped.seed(seed)
        obs, info = self.env.reset(seed=seed, options=options or None)
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
