"""The project's demonstrators: scripted or analytic experts that make the demonstration data.

| family    | demonstrator                                             | tasks                  |
|-----------|----------------------------------------------------------|------------------------|
| metaworld | metaworld's own scripted policies (`metaworld.policies`) | all 50 v3 tasks        |
| babyai    | minigrid's `BabyAIBot`; a simulator search where it fails | every level            |
| dmc       | analytic controllers (LQR, energy swing-up, IK + PD)     | `DMC_TASKS` below      |
| atari     | players reading the emulator RAM                         | pong, breakout, boxing |

Every demonstrator is a batched `Policy` (gato_eval.core.policy) that reads privileged state
through `envs[i].unwrapped`, and offers noise injection (`noise`): Gaussian on continuous
actions, epsilon-random on discrete ones, while the recorded label stays the clean expert action
(see `experts/base.py`). Simulator modules are imported only by `make_expert`.
"""

from __future__ import annotations

import importlib

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.experts.base import Demonstrator
from gato_eval.suites.registry import all_tasks, get_task

# dm_control tasks with an analytic controller (env ids as in the catalog: "domain/task").
DMC_TASKS = (
    "cartpole/balance",
    "cartpole/balance_sparse",
    "cartpole/swingup",
    "cartpole/swingup_sparse",
    "pendulum/swingup",
    "point_mass/easy",
    "reacher/easy",
    "reacher/hard",
)
# ALE games with a RAM-reading player (env ids as in the catalog).
ATARI_TASKS = ("ALE/Pong-v5", "ALE/Breakout-v5", "ALE/Boxing-v5")

_MAKERS = {
    "metaworld": "gato_eval.experts.metaworld:MetaWorldScriptedExpert",
    "babyai": "gato_eval.experts.babyai:BabyAIBotExpert",
    "dmc": "gato_eval.experts.dmc:make_dmc_expert",
    "atari": "gato_eval.experts.atari:make_atari_expert",
}

__all__ = ["ATARI_TASKS", "DMC_TASKS", "Demonstrator", "expert_task_ids", "has_expert"]


def has_expert(task_id: str) -> bool:
    """Whether the project has a demonstrator for the registered task `task_id`."""
    try:
        spec = get_task(task_id)
    except GatoEvalError:
        return False
    return _covers(spec)


def expert_task_ids(family: str | None = None) -> list[str]:
    """Every registered task with a demonstrator (of one family when given), in catalog order."""
    return [spec.task_id for spec in all_tasks(family) if _covers(spec)]


def make_expert(task: TaskSpec | str, noise: float = 0.0) -> Demonstrator:
    """The demonstrator of `task` as a batched Policy, executing with `noise` (0 = clean).

    A task without a demonstrator is a one-line `GatoEvalError` naming the covered tasks.
    """
    spec = get_task(task) if isinstance(task, str) else task
    if not _covers(spec):
        covered = expert_task_ids(spec.family)
        listing = ", ".join(covered) if covered else "none"
        raise GatoEvalError(
            f"no demonstrator for {spec.task_id}; {spec.family} tasks with one: {listing}"
        )
    module_name, attr = _MAKERS[spec.family].split(":")
    maker = getattr(importlib.import_module(module_name), attr)
    return maker(spec, noise=noise)


def _covers(spec: TaskSpec) -> bool:
    if spec.family in ("metaworld", "babyai"):
        return True
    if spec.family == "dmc":
        return spec.env_id in DMC_TASKS
    if spec.family == "atari":
        return spec.env_id in ATARI_TASKS
    return False
