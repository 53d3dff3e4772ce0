"""Meta-World: the scripted policies that ship with metaworld (`metaworld.policies`), all 50 v3.

Each scripted policy maps Meta-World's 39-value observation to a 4-value action. It needs the
goal position (the last 3 values), which goal-hidden variants zero out, so the observation is
rebuilt from the simulator: the agent's observation with the goal taken from
`env.unwrapped._get_pos_goal()`. The scripted policies are stateless.

One exception, `handle-press-v3`: metaworld's policy pushes the handle to its stop, 5 cm below the
goal height, which counts as success but earns ~2.6 reward per step, while the reward pays 10
per step only with the handle within 2 cm of the goal height. Its return (1,408 over 50
episodes) sat barely above uniform-random play (1,321, which now and then leaves the handle at
the goal), so no score could be normalized against it (#19). `press_to_goal_height` presses to
the goal height and holds it there: ~4,700 per episode, every episode a success (measured on 8
seeds; hold heights 1-3 cm above the goal all give 4,400-4,800).
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
        self.holds_handle = task.env_id == HOLDING_TASK
        if self.holds_handle:  # a different policy: a different recorded demonstrator
            self.version += "+hold-at-goal"

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
                if self.holds_handle:
                    actions[row] = press_to_goal_height(full)
                else:
                    actions[row] = self.policy.get_action(full)
        return np.clip(actions, -1.0, 1.0) if self.holds_handle else actions


HOLDING_TASK = "handle-press-v3"
HOLD_ABOVE_GOAL = 0.02  # metres: the finger rests this far above the goal height of the handle
FINGER_OFFSET_Y = -0.02  # metres: where metaworld's own policy places the finger on the handle
APPROACH_HEIGHT = 0.2  # metres above the handle while the hand is not yet over it
MOVE_GAIN = 25.0  # the proportional gain of metaworld's own handle-press policy


def press_to_goal_height(observation: np.ndarray) -> np.ndarray:
    """One float32 (4,) action from a goal-filled float64 (39,) observation: move over the
    handle, then press it down to the goal height and hold it there (gripper open)."""
    hand, handle, goal = observation[0:3], observation[4:7], observation[GOAL]
    over_handle = handle + np.array([0.0, FINGER_OFFSET_Y, 0.0])
    if np.linalg.norm(hand[:2] - over_handle[:2]) > 0.02:
        target = over_handle + np.array([0.0, 0.0, APPROACH_HEIGHT])
    else:
        target = np.array([over_handle[0], over_handle[1], goal[2] + HOLD_ABOVE_GOAL])
    delta = np.clip((target - hand) * MOVE_GAIN, -1.0, 1.0)
    return np.append(delta, -1.0).astype(np.float32)
