"""DeepMind Control: the 28 dm_control suite BENCHMARKING tasks as the observation dict contract.

Decisions (recorded in each TaskSpec's options, see catalog.DMC_OPTIONS):
- A small `gymnasium.Env` around `dm_control.suite.load` (no shimmy): it owns the task's
  `numpy.random.RandomState` (passed as `task_kwargs["random"]`) and reseeds it in place at
  every reset from gymnasium's own seeded generator, so `reset(seed=s)` fixes the initial state
  and later unseeded resets continue deterministically.
- `continuous`: float32, the task's state observations in sorted key order, each flattened
  row-major (cartpole: position (3) then velocity (2)).
- Option `pixels=True` adds `image`: uint8 (64, 64, 3) rendered from camera 0 each step (about
  50-250 frames/s here, so it is off by default).
- Actions: Box(-1, 1, (a,), float32), the suite's own bounds (asserted at construction);
  actions are clipped to them before stepping.
- 1,000 steps per episode, reward in [0, 1] per step, so returns lie in [0, 1000]. The suite's
  own time limit ends an episode as a truncation; a discount of 0 would be a termination.
- No success flag: dm_control tasks define none.

`env.unwrapped.physics` is the dm_control Physics (for analytic demonstrators) and
`env.unwrapped.dm_env` the dm_control environment.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec

RENDER_HEIGHT, RENDER_WIDTH = 240, 320  # video frames; the agent's `image` has its own size


class DMControlEnv(gymnasium.Env):
    """One dm_control suite task behind the gymnasium API and the observation contract."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        domain: str,
        task: str,
        pixels: bool = False,
        image_height: int = 64,
        image_width: int = 64,
        camera_id: int = 0,
        render_mode: str | None = None,
    ):
        from dm_control import suite

        self._random = np.random.RandomState()  # reseeded in place by reset()
        self.dm_env = suite.load(domain, task, task_kwargs={"random": self._random})
        self.pixels = pixels
        self.image_shape = (image_height, image_width)
        self.camera_id = camera_id
        self.render_mode = render_mode
        # Videos play in real time: one frame per control step.
        self.metadata = {**self.metadata, "render_fps": round(1 / self.dm_env.control_timestep())}

        action_spec = self.dm_env.action_spec()
        if not (np.all(action_spec.minimum == -1.0) and np.all(action_spec.maximum == 1.0)):
            raise AssertionError(f"{domain}/{task}: action bounds are not [-1, 1]")
        self.action_space = spaces.Box(-1.0, 1.0, action_spec.shape, np.float32)

        self._observation_keys = sorted(self.dm_env.observation_spec())
        size = sum(
            int(np.prod(self.dm_env.observation_spec()[key].shape))
            for key in self._observation_keys
        )
        observation = {"continuous": spaces.Box(-np.inf, np.inf, (size,), np.float32)}
        if pixels:
            observation["image"] = spaces.Box(0, 255, (image_height, image_width, 3), np.uint8)
        self.observation_space = spaces.Dict(observation)

    @property
    def physics(self):
        """The dm_control Physics of the running episode."""
        return self.dm_env.physics

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # One 32-bit draw from gymnasium's generator seeds the task: any int seed works, and an
        # unseeded reset after a seeded one is still reproducible.
        self._random.seed(int(self.np_random.integers(2**32)))
        time_step = self.dm_env.reset()
        return self._observation(time_step), {}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        time_step = self.dm_env.step(action)
        terminated = bool(time_step.last() and time_step.discount == 0.0)
        truncated = bool(time_step.last() and not terminated)
        reward = float(time_step.reward or 0.0)
        return self._observation(time_step), reward, terminated, truncated, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self.physics.render(RENDER_HEIGHT, RENDER_WIDTH, camera_id=self.camera_id)

    def close(self):
        self.dm_env.close()

    def _observation(self, time_step) -> dict[str, np.ndarray]:
        parts = [
            np.asarray(time_step.observation[key]).reshape(-1) for key in self._observation_keys
        ]
        observation = {"continuous": np.concatenate(parts).astype(np.float32)}
        if self.pixels:
            height, width = self.image_shape
            observation["image"] = self.physics.render(height, width, camera_id=self.camera_id)
        return observation


def make_env(spec: TaskSpec, render_mode: str | None = None) -> gymnasium.Env:
    """The dm_control task `spec.env_id` ("domain/task") with the contract and a step cap."""
    options = spec.options
    height, width = options["image_height"], options["image_width"]
    if height % 16 or width % 16 or height < 16 or width < 16:
        raise GatoEvalError(f"image sides must be positive multiples of 16, got {height}x{width}")
    domain, task = spec.env_id.split("/")
    env = DMControlEnv(
        domain,
        task,
        pixels=options["pixels"],
        image_height=height,
        image_width=width,
        camera_id=options["camera_id"],
        render_mode=render_mode,
    )
    return gymnasium.wrappers.TimeLimit(env, max_episode_steps=spec.max_episode_steps)
