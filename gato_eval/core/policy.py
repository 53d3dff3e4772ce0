"""The batched policy contract every evaluated agent implements.

The rollout engine owns `num_envs` environment slots for one task. It calls:

1. `start(task, envs)` once per task, with the live environments (slot i is `envs[i]`); most
   policies ignore `envs`, demonstrators read simulator state through `envs[i].unwrapped`.
2. `reset(env_index, seed)` whenever slot `env_index` begins a new episode (seeded with `seed`):
   the policy must forget everything about that slot's previous episode (token context, KV cache).
3. `act(observations, env_indices)` with a batch of the observations of the active slots, in the
   order of `env_indices`, and returns one action per row.
4. `close()` when the task is done.

Batched observations: the observation dict contract of `core.task_spec`, stacked over rows:
`text` is a list of B strings, `image` is uint8 (B, H, W, 3), `discrete` int64 (B, n),
`continuous` float32 (B, m). Actions: int64 (B,) for `Discrete` spaces, float32 (B, a) for `Box`.

Rollout state lives in the adapter, never on an `nn.Module`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gato_eval.core.task_spec import TaskSpec

BatchedObservation = dict[str, Any]


@runtime_checkable
class Policy(Protocol):
    """A batched policy over the environment slots of one task at a time."""

    def start(self, task: TaskSpec, envs: Sequence[Any]) -> None:
        """Prepare for `task`; `envs[i]` is the gymnasium env in slot i."""

    def reset(self, env_index: int, seed: int) -> None:
        """Slot `env_index` starts a new episode seeded with `seed`: forget its past."""

    def act(self, observations: BatchedObservation, env_indices: np.ndarray) -> np.ndarray:
        """Actions for the rows of `observations` (row r belongs to slot env_indices[r]).

        Returns int64 (B,) for discrete action spaces or float32 (B, a) for Box spaces.
        """

    def close(self) -> None:
        """The task is finished; release per-task resources."""
