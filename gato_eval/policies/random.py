"""`RandomPolicy`: uniformly random actions, seeded per episode (the 0% of normalized scores)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.policy import BatchedObservation
from gato_eval.core.task_spec import TaskSpec

# Mixed into every episode seed so the policy's stream differs from the env's own generator,
# which gymnasium also derives from the same reset seed through SeedSequence(seed).
POLICY_STREAM = 0x9A70


class RandomPolicy:
    """Uniform over `Discrete(n)`; uniform in [low, high] for a bounded `Box`.

    Each episode draws from its own generator, seeded by the episode seed, so an episode's
    actions do not depend on which slot runs it or on how many slots there are.
    """

    name = "random"

    def __init__(self) -> None:
        self._space: Any = None
        self._rngs: dict[int, np.random.Generator] = {}

    def start(self, task: TaskSpec, envs: Sequence[Any]) -> None:
        from gymnasium import spaces

        space = next(env for env in envs if env is not None).action_space
        if isinstance(space, spaces.Box) and not (
            np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))
        ):
            raise GatoEvalError(f"{task.task_id}: random actions need a bounded action space")
        if not isinstance(space, spaces.Discrete | spaces.Box):
            raise GatoEvalError(f"{task.task_id}: unsupported action space {space}")
        self._space = space
        self._rngs = {}

    def reset(self, env_index: int, seed: int) -> None:
        self._rngs[env_index] = np.random.default_rng([int(seed), POLICY_STREAM])

    def act(self, observations: BatchedObservation, env_indices: np.ndarray) -> np.ndarray:
        """int64 (B,) for Discrete; float32 (B, a) for Box."""
        from gymnasium import spaces

        space = self._space
        rngs = [self._rngs[int(k)] for k in env_indices]
        if isinstance(space, spaces.Discrete):
            values = [rng.integers(space.n) for rng in rngs]
            return np.asarray(values, dtype=np.int64) + int(space.start)
        low = space.low.astype(np.float64)
        high = space.high.astype(np.float64)
        rows = [rng.uniform(low, high) for rng in rngs]
        return np.asarray(rows, dtype=np.float32).reshape(len(rngs), *space.shape)

    def close(self) -> None:
        self._rngs = {}
