"""Plug-in policies that misbehave inside Ray workers, for the backend's fault tests.

Both play uniformly random actions (the real `RandomPolicy`) and do something drastic when a
*worker* process resets the doomed episode: episode 1 of `dmc-cartpole-balance` in a run seeded
0. The driver loads the same policy (to describe it) but never plays it; the test process's pid
in GATO_EVAL_RAY_DRIVER_PID keeps the drastic part out of it anyway. Workers import this module
by name: the tests put this directory on PYTHONPATH before Ray starts its worker processes.
"""

from __future__ import annotations

import os
import time

from gato_eval.policies.random import RandomPolicy
from gato_eval.rollout import episode_seed

DOOMED_TASK, DOOMED_EPISODE = "dmc-cartpole-balance", 1
DOOMED_SEED = episode_seed(0, DOOMED_TASK, DOOMED_EPISODE)


def _doomed(seed: int) -> bool:
    in_worker = str(os.getpid()) != os.environ.get("GATO_EVAL_RAY_DRIVER_PID")
    return in_worker and seed == DOOMED_SEED


class CrashingAgent(RandomPolicy):
    """The worker process dies (as on a segfault or the OOM killer) at the doomed episode."""

    name = "crashing"

    def reset(self, env_index: int, seed: int) -> None:
        if _doomed(seed):
            os._exit(1)
        super().reset(env_index, seed)


class HangingAgent(RandomPolicy):
    """The worker stops making progress (a hung simulator or driver) at the doomed episode."""

    name = "hanging"

    def reset(self, env_index: int, seed: int) -> None:
        if _doomed(seed):
            time.sleep(3600)
        super().reset(env_index, seed)
