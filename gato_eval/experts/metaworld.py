"""Meta-World: the scripted policies that ship with metaworld (`metaworld.policies`), all 50 v3.

Each scripted policy maps Meta-World's 39-value observation to a 4-value action. It needs the
goal position (the last 3 values), which goal-hidden variants zero out, so the observation is
rebuilt from the simulator: the agent's observation with the goal taken from
`env.unwrapped._get_pos_goal()`. The scripted policies are stateless.
"""

from __future__ import annotations

import warnings
from importlib import metadata

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.policy import BatchedObservation
from gato_eval.core.task_spec import TaskSpec
from gato_eval.experts.base import Demonstrator

GOAL = slice(36, 39)  # the goal position inside Meta-World's 39-value observation


class MetaWorldScriptedExpert(Demonstrator):
    """metaworld.policies.ENV_POLICY_MAP[env_id] on the goal-observable observation."""

    name = "metaworld-scripted"

    def __init__(self, task: TaskSpec, noise: float = 0.0):
        super().__init__(task, noise)
        from metaworld.policies import ENV_POLICY_MAP

        if task.env_id not in ENV_POLICY_MAP:
            raise GatoEvalError(f"metaworld ships no scripted policy for {task.env_id}")
        self.policy = ENV_POLICY_MAP[task.env_id]()
        # The scripted policies are metaworld's: their version is the package's.
        self.version = f"metaworld-{metadata.version('metaworld')}"

    def expert_actions(self, observations: BatchedObservation, env_indices: np.ndarray):
        """float32 (B, 4) from `continuous` float32 (B, 39)."""
        state = np.asarray(observations["continuous"], dtype=np.float64)
        actions = np.empty((len(env_indices), 4), dtype=np.float32)
        with warnings.catch_warnings():
            # "Constant(s) may be too high": the policies overshoot on purpose; actions are
            # clipped to the Box (as the env would) before they are used or recorded.
            warnings.simplefilter("ignore", UserWarning)
            for row, slot in enumerate(env_indices):
                full = state[row].copy()
                full[GOAL] = self.env(slot)._get_pos_goal()
                actions[row] = self.policy.get_action(full)
        return actions
