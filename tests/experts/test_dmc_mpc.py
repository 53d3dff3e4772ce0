"""The sampling MPC (MPPI) on the real walker: it plans without touching the live episode, is
reproducible from the episode seed, and balances better than doing nothing."""

from __future__ import annotations

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.experts.dmc_mpc import MPPISettings, make_mpc_expert
from gato_eval.suites.registry import get_task, make_env

TINY = MPPISettings(samples=8, horizon=6)


def play(policy_steps: int, settings: MPPISettings | None = TINY, seed: int = 11):
    """Return of `policy_steps` steps of walker-stand under MPPI (or zero torque when None)."""
    spec = get_task("dmc-walker-stand")
    env = make_env(spec)
    observation, _ = env.reset(seed=seed)
    mpc = None
    if settings is not None:
        mpc = make_mpc_expert(spec, settings=settings)
        mpc.start(spec, [env])
        mpc.reset(0, seed)
    total, actions = 0.0, []
    for _ in range(policy_steps):
        if mpc is None:
            action = np.zeros(env.action_space.shape, np.float32)
        else:
            action = mpc.act({"continuous": observation["continuous"][None]}, np.array([0]))[0]
        actions.append(action)
        observation, reward, *_ = env.step(action)
        total += reward
    env.close()
    return total, np.array(actions)


def test_planning_leaves_the_live_state_untouched():
    spec = get_task("dmc-walker-stand")
    env = make_env(spec)
    env.reset(seed=3)
    mpc = make_mpc_expert(spec, settings=TINY)
    mpc.start(spec, [env])
    mpc.reset(0, 3)
    physics = env.unwrapped.physics
    before = physics.get_state().copy(), float(physics.data.time)
    action = mpc.plan_step(0)
    assert np.array_equal(physics.get_state(), before[0]) and physics.data.time == before[1]
    assert action.shape == (6,) and np.all(np.abs(action) <= 1.0)
    env.close()


def test_same_seed_same_actions_and_it_beats_zero_torque():
    first, actions = play(25)
    second, again = play(25)
    assert np.array_equal(actions, again) and first == second
    idle, _ = play(25, settings=None)
    # The walker starts lying down; planning on the task's reward stands it up faster.
    assert first > idle


def test_only_the_locomotion_tasks_are_planned():
    with pytest.raises(GatoEvalError, match="plans walker, hopper, cheetah"):
        make_mpc_expert(get_task("dmc-cartpole-swingup"))
    with pytest.raises(GatoEvalError, match="at least 2 samples"):
        make_mpc_expert(get_task("dmc-hopper-hop"), settings=MPPISettings(samples=1))
