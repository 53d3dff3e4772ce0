"""`Demonstrator`: what every expert shares, the batched Policy contract and noise injection.

A demonstrator computes a *clean* expert action for each active slot from privileged state
(`envs[i].unwrapped`: RAM, physics, the minigrid grid). With noise it *executes* a perturbed
action while labelling the step with the clean one (DART, Laskey et al. 2017; see
../TRAINING_NOTES.md: it is what made cartpole learnable):

- continuous actions: `clip(clean + N(0, noise^2), low, high)`, independently per dimension;
- discrete actions: with probability `noise`, a uniformly random action (from the family's
  `random_actions`, all actions by default) instead of the clean one.

The clean labels of the last `act` are in `last_action_labels`, which the rollout engine records
as the episode's actions (and the executed ones as `extras["executed_actions"]`). Noise draws come
from a generator seeded by the episode seed, so an episode is reproducible whatever slot runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.policy import BatchedObservation
from gato_eval.core.task_spec import TaskSpec

# Mixed into each episode seed so the noise stream differs from the env's and RandomPolicy's.
NOISE_STREAM = 0xDA27


class Demonstrator:
    """Base class: subclasses implement `expert_actions` (and `reset_slot` if they keep state).

    Class attributes a subclass sets: `name` (stable, recorded in data sets), `version` (bump it
    whenever the clean actions for the same state change) and optionally `random_actions`
    (the discrete actions epsilon-noise may pick; None = all).
    """

    name = "demonstrator"
    version = "1"
    random_actions: tuple[int, ...] | None = None

    def __init__(self, task: TaskSpec, noise: float = 0.0):
        noise = float(noise)
        if not np.isfinite(noise) or noise < 0:
            raise GatoEvalError(f"expert noise must be a finite number >= 0, got {noise}")
        self.task = task
        self.noise = noise
        self.envs: Sequence[Any] = ()
        self.action_space: Any = None
        self.last_action_labels: np.ndarray | None = None
        self._rngs: dict[int, np.random.Generator] = {}

    # -- the Policy contract ----------------------------------------------------------------------

    def start(self, task: TaskSpec, envs: Sequence[Any]) -> None:
        """Keep the live env list (the engine replaces broken envs in place)."""
        if task.task_id != self.task.task_id:
            raise GatoEvalError(
                f"the {self.name} demonstrator was made for {self.task.task_id}, not {task.task_id}"
            )
        from gymnasium import spaces

        self.envs = envs
        self.action_space = next(env for env in envs if env is not None).action_space
        if isinstance(self.action_space, spaces.Discrete):
            if self.noise > 1:
                raise GatoEvalError(
                    f"discrete expert noise is an epsilon in [0, 1], got {self.noise}"
                )
        elif not isinstance(self.action_space, spaces.Box):
            raise GatoEvalError(f"{task.task_id}: unsupported action space {self.action_space}")
        self._rngs = {}

    def reset(self, env_index: int, seed: int) -> None:
        self._rngs[env_index] = np.random.default_rng([int(seed), NOISE_STREAM])
        self.reset_slot(env_index, seed)

    def act(self, observations: BatchedObservation, env_indices: np.ndarray) -> np.ndarray:
        """Executed actions: int64 (B,) or float32 (B, a); clean ones go to `last_action_labels`."""
        clean = self._in_space(np.asarray(self.expert_actions(observations, env_indices)))
        executed = self._add_noise(clean, env_indices)
        self.last_action_labels = clean
        self.observe_executed(executed, env_indices)
        return executed

    def close(self) -> None:
        self._rngs = {}

    # -- for subclasses ---------------------------------------------------------------------------

    def expert_actions(self, observations: BatchedObservation, env_indices: np.ndarray):
        """Clean actions for the rows of `observations` (int64 (B,) or float32 (B, a))."""
        raise NotImplementedError

    def reset_slot(self, env_index: int, seed: int) -> None:
        """Slot `env_index` starts an episode: forget its per-episode state."""

    def observe_executed(self, executed: np.ndarray, env_indices: np.ndarray) -> None:
        """What was really executed (differs from the clean action under noise)."""

    def env(self, env_index: int) -> Any:
        """The unwrapped env of slot `env_index` (privileged state lives there)."""
        return self.envs[int(env_index)].unwrapped

    def describe(self) -> dict[str, Any]:
        """The demonstrator block recorded in data sets: name, version, noise and its kind."""
        return {
            "name": self.name,
            "version": self.version,
            "noise": self.noise,
            "noise_kind": self.noise_kind(),
        }

    def noise_kind(self) -> str:
        """ "none", "epsilon-random" (discrete actions) or "gaussian-clipped" (continuous)."""
        if self.noise == 0:
            return "none"
        if self.action_space is not None:
            discrete = hasattr(self.action_space, "n")
        else:
            discrete = str(self.task.action_space).startswith("Discrete")
        return "epsilon-random" if discrete else "gaussian-clipped"

    # -- noise ------------------------------------------------------------------------------------

    def _in_space(self, clean: np.ndarray) -> np.ndarray:
        # Labels must be valid actions: scripted policies may overshoot the Box bounds (the env
        # would clip them anyway), and the tokenizer bins only values inside them.
        space = self.action_space
        if hasattr(space, "n"):
            return clean.astype(np.int64).reshape(-1)
        actions = clean.astype(np.float32).reshape(-1, *space.shape)
        return np.clip(actions, space.low, space.high)

    def _add_noise(self, actions: np.ndarray, env_indices: np.ndarray) -> np.ndarray:
        space = self.action_space
        if hasattr(space, "n"):
            if self.noise == 0:
                return actions.copy()
            choices = np.asarray(self.random_actions or range(int(space.n)), dtype=np.int64)
            executed = actions.copy()
            for row, slot in enumerate(env_indices):
                rng = self._rngs[int(slot)]
                if rng.random() < self.noise:
                    executed[row] = choices[rng.integers(len(choices))]
            return executed
        if self.noise == 0:
            return actions.copy()
        noisy = np.stack(
            [
                actions[row] + self._rngs[int(slot)].normal(0.0, self.noise, space.shape)
                for row, slot in enumerate(env_indices)
            ]
        )
        return np.clip(noisy, space.low, space.high).astype(np.float32)
