"""DeepMind Control: a sampling model-predictive controller (MPPI) planning on the simulator.

For the locomotion tasks without an analytic controller (walker, hopper, cheetah) a standard
approach is to plan on the true dynamics (Williams et al. 2017, MPPI; Howell et al. 2022,
"Predictive Sampling", MuJoCo MPC). At every control step:

1. K open-loop control sequences over H control steps are sampled around the nominal plan
   (the previous plan shifted by one step): `nominal + N(0, sigma^2)`, clipped to [-1, 1]; the
   nominal itself is one of them;
2. each is rolled out from the live state on a copy of the task's MuJoCo model
   (`mujoco.rollout`, in C, one control held for the task's physics sub-steps);
3. each is scored by the task's own reward (`task.get_reward`) summed over its H steps;
4. the nominal becomes the softmax(score / temperature)-weighted mean of the samples (MPPI),
   and its first control is applied.

The controller reads `env.unwrapped.dm_env` (physics and task): privileged state, like the
analytic ones. It is exact for deterministic tasks; its cost is K x H x sub-steps physics
steps and K x H reward evaluations per control step (benchmarks/dmc_mpc.py measures it).
It is not a registered demonstrator (`gato_eval.experts.DMC_TASKS`): at the settings below one
1,000-step episode takes minutes on one core, too slow to collect data sets or reference
episodes here (README, "Demonstrations and data sets").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.experts.dmc import DMCController

MPC_DOMAINS = ("walker", "hopper", "cheetah")


@dataclass(frozen=True)
class MPPISettings:
    """samples K, horizon H (control steps), exploration sigma, softmax temperature (in units
    of the score's spread across samples), and the seed of the sampling noise."""

    samples: int = 32
    horizon: int = 20
    sigma: float = 0.5
    temperature: float = 0.1
    seed: int = 0


class SamplingMPC(DMCController):
    """MPPI over `mujoco.rollout` with the task's reward (see the module docstring)."""

    name = "dmc-mppi"
    version = "1"

    def __init__(self, task: TaskSpec, noise: float = 0.0, settings: MPPISettings | None = None):
        super().__init__(task, noise)
        self.settings = settings or MPPISettings()
        if self.settings.samples < 2 or self.settings.horizon < 1:
            raise GatoEvalError("MPPI needs at least 2 samples and a horizon of 1 step")
        self._plans: dict[int, np.ndarray] = {}
        self._noise: dict[int, np.random.Generator] = {}

    def reset_slot(self, env_index: int, seed: int) -> None:
        self._plans.pop(int(env_index), None)
        self._noise[int(env_index)] = np.random.default_rng([int(seed), self.settings.seed])

    def expert_actions(self, observations, env_indices: np.ndarray) -> np.ndarray:
        """float32 (B, nu): one planning step per row's slot."""
        return np.stack([self.plan_step(int(slot)) for slot in env_indices]).astype(np.float32)

    def plan_step(self, slot: int) -> np.ndarray:
        """Plan from slot `slot`'s live state; returns the control to apply now, (nu,)."""
        import mujoco
        from mujoco import rollout

        dm_env = self.env(slot).dm_env
        physics, task = dm_env.physics, dm_env.task
        model = physics.model.ptr
        k, h, nu = self.settings.samples, self.settings.horizon, model.nu
        sub_steps = dm_env._n_sub_steps  # physics steps per control step
        plan = self._plans.get(slot)
        plan = np.zeros((h, nu)) if plan is None else plan
        rng = self._noise.setdefault(slot, np.random.default_rng(self.settings.seed))
        candidates = plan[None] + self.settings.sigma * rng.standard_normal((k, h, nu))
        candidates[0] = plan  # the nominal plan always competes
        candidates = np.clip(candidates, -1.0, 1.0)  # (K, H, nu)

        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        start = np.empty(mujoco.mj_stateSize(model, spec))
        mujoco.mj_getState(model, physics.data.ptr, start, spec)
        controls = np.repeat(candidates, sub_steps, axis=1)  # (K, H * sub_steps, nu)
        states, _ = rollout.rollout(model, self._scratch_data(physics), start[None], controls)
        ends = states[:, sub_steps - 1 :: sub_steps]  # (K, H, nstate): after each control step
        scores = np.array([self._return(physics, task, ends[i], spec) for i in range(k)])

        spread = max(float(scores.max() - scores.min()), 1e-9)
        weights = np.exp((scores - scores.max()) / (self.settings.temperature * spread))
        plan = np.tensordot(weights / weights.sum(), candidates, axes=1)  # (H, nu)
        self._plans[slot] = np.concatenate([plan[1:], plan[-1:]])  # shifted warm start
        return plan[0]

    def _scratch_data(self, physics):
        # Rollouts and reward evaluations use their own MjData: the live episode is untouched.
        import mujoco

        if getattr(self, "_scratch_model", None) is not physics.model.ptr:
            self._scratch_model = physics.model.ptr
            self._rollout_data = mujoco.MjData(physics.model.ptr)
            self._reward_physics = physics.copy(share_model=True)
        return self._rollout_data

    def _return(self, physics, task, states: np.ndarray, spec) -> float:
        """Sum of the task's reward over the states (H, nstate) of one sample."""
        import mujoco

        scratch = self._reward_physics
        total = 0.0
        for state in states:
            mujoco.mj_setState(physics.model.ptr, scratch.data.ptr, state, spec)
            mujoco.mj_forward(physics.model.ptr, scratch.data.ptr)
            total += float(task.get_reward(scratch))
        return total


def make_mpc_expert(
    task: TaskSpec, noise: float = 0.0, settings: MPPISettings | None = None
) -> SamplingMPC:
    """The MPPI controller of a walker, hopper or cheetah task."""
    domain = task.env_id.split("/")[0]
    if task.family != "dmc" or domain not in MPC_DOMAINS:
        raise GatoEvalError(
            f"the sampling MPC plans {', '.join(MPC_DOMAINS)} tasks, not {task.task_id}"
        )
    return SamplingMPC(task, noise, settings)
