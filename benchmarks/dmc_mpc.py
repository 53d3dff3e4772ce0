"""Recipe: how good and how slow the sampling MPC (gato_eval/experts/dmc_mpc.py) is.

Plays full 1,000-step episodes of one dm_control task with MPPI through the rollout engine
(the episode seeds of run seed 1, as the project's reference data sets) and prints each return,
the mean, and the wall time per episode. Usage:

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python benchmarks/dmc_mpc.py dmc-walker-stand \
        [--episodes 1] [--samples 32] [--horizon 20]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

from gato_eval.experts.dmc_mpc import MPPISettings, make_mpc_expert
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.suites.registry import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="a walker, hopper or cheetah task id")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--samples", type=int, default=MPPISettings.samples)
    parser.add_argument("--horizon", type=int, default=MPPISettings.horizon)
    args = parser.parse_args()
    spec = get_task(args.task)
    settings = MPPISettings(samples=args.samples, horizon=args.horizon)
    expert = make_mpc_expert(spec, settings=settings)
    started = time.perf_counter()
    results = run_episodes(
        spec, expert, plan_episodes(1, spec.task_id, range(args.episodes)), num_envs=1
    )
    wall = time.perf_counter() - started
    returns = [r.episode_return for r in results]
    print(
        f"{spec.task_id} MPPI K={settings.samples} H={settings.horizon}: returns "
        f"{', '.join(f'{r:.1f}' for r in returns)} (mean {sum(returns) / len(returns):.1f}); "
        f"{wall / len(returns):.0f} s per episode"
    )


if __name__ == "__main__":
    main()
