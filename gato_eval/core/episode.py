"""`Episode`: one recorded demonstration, the unit every data consumer works with.

Data sets (Minari), prompts and training batches all hand episodes around in this shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Episode:
    """One episode of T steps.

    observations: the observation dict contract (gato_eval.core.task_spec) stacked over time, with
                  T + 1 entries (the last is the observation after the final step): arrays of
                  shape (T + 1, ...) and, for `text`, a list of T + 1 strings
    actions:      int64 (T,) or float32 (T, a): the demonstrator's action labels (with noise
                  injection these are the clean actions, not the executed ones)
    rewards:      float32 (T,) raw rewards
    terminations: bool (T,)
    truncations:  bool (T,)
    success:      whether the task's success flag was ever true (None where undefined)
    seed:         the reset seed of the episode
    """

    task_id: str
    observations: dict[str, Any]
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    seed: int
    success: bool | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(self.rewards)

    @property
    def episode_return(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))
