"""`ExpertPolicy`: the project's demonstrators (`gato_eval.experts`) behind one multi-task policy.

A demonstrator is made per task (`make_expert(task, noise)`); this adapter makes the one for each
task as the rollout engine starts it and forwards the batched calls, including the clean action
labels (`last_action_labels`) that recorded trajectories keep under noise injection. Scores of
this policy are what "100% of expert" means in the normalized tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gato_eval.core.policy import BatchedObservation
from gato_eval.core.task_spec import TaskSpec


class ExpertPolicy:
    """The demonstrator of whichever task is running; `noise` as in `gato_eval.experts.base`."""

    name = "expert"

    def __init__(self, noise: float = 0.0):
        self.noise = float(noise)
        self._expert: Any = None

    def prepare(self, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        """Check, before a run writes anything, that every task has a demonstrator.

        Returns {"demonstrators": {task id: {name, version, noise, noise_kind}}} for the run's
        metadata. A task without one is a one-line `GatoEvalError`.
        """
        from gato_eval.experts import make_expert

        return {
            "demonstrators": {
                task.task_id: make_expert(task, self.noise).describe() for task in tasks
            }
        }

    @property
    def last_action_labels(self) -> np.ndarray | None:
        return None if self._expert is None else self._expert.last_action_labels

    def start(self, task: TaskSpec, envs: Sequence[Any]) -> None:
        from gato_eval.experts import make_expert

        self._expert = make_expert(task, self.noise)
        self._expert.start(task, envs)

    def reset(self, env_index: int, seed: int) -> None:
        self._expert.reset(env_index, seed)

    def act(self, observations: BatchedObservation, env_indices: np.ndarray) -> np.ndarray:
        return self._expert.act(observations, env_indices)

    def close(self) -> None:
        if self._expert is not None:
            self._expert.close()
        self._expert = None
