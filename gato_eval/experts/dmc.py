"""DeepMind Control: analytic controllers that read the MuJoCo state (`env.unwrapped.physics`).

Linear models come from the simulator itself: `transition_jacobians` differentiates one control
step of the task's own MuJoCo model (finite differences on a scratch `MjData`, so the live
episode is untouched and the RK4 integrator of cartpole is handled), and `lqr_gain` solves the
discrete Riccati equation. Per task:

| task                      | controller                                                  |
|---------------------------|-------------------------------------------------------------|
| cartpole balance(_sparse) | LQR about the upright pole, cart at the centre              |
| cartpole swingup(_sparse) | energy-shaping swing-up (Astrom & Furuta 2000), then LQR    |
| pendulum swingup          | bang-bang energy pumping (torque 1 < m g l = 4.9), then LQR |
| point_mass easy           | LQR to the target at the origin, with a cost on control     |
| reacher easy / hard       | analytic two-link inverse kinematics, joint-space PD        |

Gains were tuned on seeds outside any recorded data set (benchmarks/demonstrators.py measures
them). Controllers are stateless except for the gains, computed once per task.
"""

from __future__ import annotations

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.policy import BatchedObservation
from gato_eval.core.task_spec import TaskSpec
from gato_eval.experts.base import Demonstrator

GRAVITY = 9.81


def transition_jacobians(physics, qpos: np.ndarray, sub_steps: int = 1, epsilon: float = 1e-6):
    """A (2 nv, 2 nv), B (2 nv, nu): d(qpos, qvel)_next / d(qpos, qvel) and / d(ctrl).

    One control step (`sub_steps` MuJoCo steps) of `physics`'s model about `qpos` at rest with
    zero control, by central differences. Valid for models whose qpos and qvel have the same
    size (hinge and slide joints only).
    """
    import mujoco

    model = physics.model.ptr
    data = mujoco.MjData(model)
    nq, nv, nu = model.nq, model.nv, model.nu
    if nq != nv:
        raise GatoEvalError("transition_jacobians needs hinge/slide joints only (nq == nv)")

    def step(state: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        data.qpos[:], data.qvel[:], data.ctrl[:] = state[:nq], state[nq:], ctrl
        data.time = 0.0
        for _ in range(sub_steps):
            mujoco.mj_step(model, data)
        return np.concatenate([data.qpos, data.qvel])

    state0 = np.concatenate([np.asarray(qpos, dtype=np.float64), np.zeros(nv)])
    ctrl0 = np.zeros(nu)
    a = np.stack(
        [
            (step(state0 + epsilon * e, ctrl0) - step(state0 - epsilon * e, ctrl0)) / (2 * epsilon)
            for e in np.eye(nq + nv)
        ],
        axis=1,
    )
    b = np.stack(
        [
            (step(state0, ctrl0 + epsilon * e) - step(state0, ctrl0 - epsilon * e)) / (2 * epsilon)
            for e in np.eye(nu)
        ],
        axis=1,
    )
    return a, b


def lqr_gain(a: np.ndarray, b: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """K (nu, nx) of the discrete LQR: u = -K x minimises sum x'Qx + u'Ru."""
    import scipy.linalg

    p = scipy.linalg.solve_discrete_are(a, b, q, r)
    return np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)


def wrap_angle(angle: float) -> float:
    """`angle` in [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


class DMCController(Demonstrator):
    """Base for the dm_control controllers: one physics per slot, one action per row."""

    name = "dmc-analytic"
    version = "1"

    def start(self, task, envs) -> None:
        super().start(task, envs)
        self.prepare(self.env(0).physics)

    def prepare(self, physics) -> None:
        """Compute gains from the task's model (once per task)."""

    def control(self, physics) -> np.ndarray:
        """float (nu,) for the current state of `physics`."""
        raise NotImplementedError

    def expert_actions(self, observations: BatchedObservation, env_indices: np.ndarray):
        """float32 (B, nu) from each slot's physics."""
        return np.stack([self.control(self.env(slot).physics) for slot in env_indices])


class CartpoleController(DMCController):
    """LQR about the upright pole; far from it (swing-up tasks) energy shaping raises the pole.

    State x = (cart position, pole angle, cart velocity, pole angular velocity); the hinge angle
    is 0 upright and pi hanging. The swing-up law pushes the cart so that the pole's energy
    approaches the upright energy, with a weak pull of the cart towards the centre.
    """

    name = "dmc-cartpole-lqr-energy"
    SWITCH_COSINE = 0.85  # LQR takes over within ~32 degrees of upright
    ENERGY_GAIN = 2.0
    CENTERING = (0.5, 0.3)

    def prepare(self, physics) -> None:
        a, b = transition_jacobians(physics, np.zeros(physics.model.nq))
        self.gain = lqr_gain(a, b, np.diag([1.0, 10.0, 1.0, 1.0]), np.eye(1) * 0.1)
        pole = physics.model.body("pole_1")
        self.pole_mass = float(pole.mass[0])
        half_length = 0.5  # the pole is a 1 m capsule hinged at one end
        self.pole_moment = float(pole.inertia[1]) + self.pole_mass * half_length**2
        self.pole_lever = self.pole_mass * GRAVITY * half_length

    def control(self, physics) -> np.ndarray:
        x, angle = physics.data.qpos[:2]
        x_dot, angle_dot = physics.data.qvel[:2]
        if np.cos(angle) > self.SWITCH_COSINE:
            state = np.array([x, wrap_angle(angle), x_dot, angle_dot])
            return -self.gain @ state
        energy = 0.5 * self.pole_moment * angle_dot**2 + self.pole_lever * (np.cos(angle) - 1)
        push = self.ENERGY_GAIN * energy * np.sign(angle_dot * np.cos(angle))
        k_x, k_v = self.CENTERING
        return np.array([push - k_x * x - k_v * x_dot])


class PendulumController(DMCController):
    """Full-torque energy pumping until the pole carries the upright energy, then LQR."""

    name = "dmc-pendulum-energy-lqr"
    SWITCH_COSINE = 0.9

    def prepare(self, physics) -> None:
        a, b = transition_jacobians(physics, np.zeros(physics.model.nq))
        self.gain = lqr_gain(a, b, np.diag([10.0, 1.0]), np.eye(1) * 0.1)
        body = physics.model.body("pole")
        self.moment = float(body.inertia[1]) + 1.0 * 0.5**2  # the 1 kg bob at 0.5 m
        self.lever = 1.0 * GRAVITY * 0.5

    def control(self, physics) -> np.ndarray:
        angle = float(physics.data.qpos[0])
        angle_dot = float(physics.data.qvel[0])
        if np.cos(angle) > self.SWITCH_COSINE:
            return -self.gain @ np.array([wrap_angle(angle), angle_dot])
        energy = 0.5 * self.moment * angle_dot**2 + self.lever * (np.cos(angle) - 1)
        if energy >= 0:
            return np.array([0.0])
        direction = np.sign(angle_dot) if abs(angle_dot) > 1e-3 else 1.0
        return np.array([direction])


class PointMassController(DMCController):
    """LQR to the target at the origin, through the actuators' tendons as the model has them."""

    name = "dmc-point-mass-lqr"

    def prepare(self, physics) -> None:
        a, b = transition_jacobians(physics, np.zeros(physics.model.nq))
        # A small control cost: the task's reward pays up to 20% for small controls.
        self.gain = lqr_gain(a, b, np.diag([1.0, 1.0, 0.01, 0.01]), np.eye(2) * 1e-3)

    def control(self, physics) -> np.ndarray:
        state = np.concatenate([physics.data.qpos, physics.data.qvel])
        return -self.gain @ state


class ReacherController(DMCController):
    """Analytic inverse kinematics of the two-link arm, then joint-space PD.

    Of the two elbow solutions the one closer to the current wrist angle is taken (the wrist is
    limited to +-160 degrees, both solutions stay inside for targets the task samples).
    """

    name = "dmc-reacher-ik-pd"
    STIFFNESS, DAMPING = 8.0, 0.6

    def prepare(self, physics) -> None:
        named = physics.named.model
        self.upper = float(np.linalg.norm(named.body_pos["hand"][:2]))
        self.lower = float(np.linalg.norm(named.body_pos["finger"][:2]))
        self.base = np.array(physics.named.data.xpos["arm"][:2])

    def control(self, physics) -> np.ndarray:
        target = physics.named.model.geom_pos["target"][:2] - self.base
        shoulder, wrist = physics.data.qpos[:2]
        reach = np.clip(np.linalg.norm(target), 1e-6, self.upper + self.lower - 1e-6)
        cos_wrist = (reach**2 - self.upper**2 - self.lower**2) / (2 * self.upper * self.lower)
        elbow = np.arccos(np.clip(cos_wrist, -1.0, 1.0))
        goal_wrist = elbow if abs(elbow - wrist) <= abs(-elbow - wrist) else -elbow
        goal_shoulder = np.arctan2(target[1], target[0]) - np.arctan2(
            self.lower * np.sin(goal_wrist), self.upper + self.lower * np.cos(goal_wrist)
        )
        error = np.array([wrap_angle(goal_shoulder - shoulder), goal_wrist - wrist])
        return self.STIFFNESS * error - self.DAMPING * physics.data.qvel[:2]


_CONTROLLERS = {
    "cartpole": CartpoleController,
    "pendulum": PendulumController,
    "point_mass": PointMassController,
    "reacher": ReacherController,
}


def make_dmc_expert(task: TaskSpec, noise: float = 0.0) -> DMCController:
    """The controller of a dm_control task (see the module table)."""
    domain = task.env_id.split("/")[0]
    controller = _CONTROLLERS.get(domain)
    if controller is None:
        raise GatoEvalError(f"no analytic controller for {task.env_id}")
    return controller(task, noise)
