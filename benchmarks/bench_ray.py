"""Ray backend throughput: env-steps/s with 1 and 2 Ray workers, side by side in one run (issue 11).

One local Ray instance (2 CPUs: this machine). For each workload the same episodes are played
by `run_on_ray` with 1 and with 2 workers and by the local backend, in a rotating order, so that
load from other processes on this shared machine hits all three alike; the median of the
repeats is reported.

- env-steps/s counts the env steps streamed back after every worker was ready, over the time
  from then to the last recorded episode: worker start-up (process, imports, policy load) is
  reported apart, as `startup s`, because it is paid once per run, not per episode.
- workloads: uniformly random actions on dmc-cartpole-balance (the envs dominate), and a
  randomly initialised `gato-tiny` checkpoint, greedy, no prompt (the model dominates).
- For reference, the local backend (`run_episodes` in this process, one core) on the same
  episodes: 1 Ray worker against it is the backend's overhead.
- Headroom: how much more work 2 busy processes got done than 1 in the same wall time, measured
  in the same rotation. On an idle 2-core machine it is 2x; it bounds what 2 workers can gain
  while other jobs share the cores, so the 2-worker ratio is read against it.

Run: `python benchmarks/bench_ray.py [--quick]` (nox -s bench runs it); output is what
results/bench_ray.txt holds. Each worker uses one thread (Ray sets OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import logging
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

TASK = "dmc-cartpole-balance"
NUM_ENVS = 4


def make_workloads(checkpoint_dir: Path, quick: bool) -> list[dict]:
    """(name, model spec, episodes, steps per episode) for each workload."""
    import torch

    from gato_eval.model import GatoModel, get_preset, save_checkpoint

    torch.manual_seed(0)
    model = GatoModel(get_preset("gato-tiny", dropout=0.0)).eval()
    checkpoint = save_checkpoint(model, checkpoint_dir / "gato-tiny")
    scale = 4 if quick else 1
    return [
        {"name": "random", "spec": "random", "episodes": 48 // scale, "steps": 1000},
        {"name": "gato-tiny", "spec": str(checkpoint), "episodes": 16 // scale, "steps": 200},
    ]


def build_job(workload: dict, seed: int):
    from gato_eval.distributed.types import RayJob
    from gato_eval.policies.loading import load_policy
    from gato_eval.run.settings import PolicySpec, PromptSettings
    from gato_eval.suites.registry import get_task

    task = replace(get_task(TASK), max_episode_steps=workload["steps"])
    policy = PolicySpec(workload["spec"], device="cpu", prompt=PromptSettings("none"))
    return RayJob(
        tasks=[task],
        missing={task.task_id: list(range(workload["episodes"]))},
        episodes_per_task=workload["episodes"],
        run_seed=seed,
        num_envs=NUM_ENVS,
        policy=policy,
        policy_description=load_policy(policy).description,
    )


def measure_ray(workload: dict, workers: int, seed: int) -> tuple[float, float]:
    """(env-steps/s after start-up, start-up seconds) of one `run_on_ray` call."""
    from gato_eval.distributed.ray_backend import run_on_ray
    from gato_eval.distributed.types import RayOptions

    episodes = []
    stats = run_on_ray(build_job(workload, seed), RayOptions(workers=workers), episodes.append)
    assert len(episodes) == workload["episodes"] and stats.workers == workers
    return stats.rollout_env_steps / stats.rollout_s, stats.startup_s


def measure_local(workload: dict, seed: int) -> float:
    """env-steps/s of the local backend (this process) on the same episodes."""
    from gato_eval.policies.loading import load_policy
    from gato_eval.rollout import plan_episodes, run_episodes

    job = build_job(workload, seed)
    task = job.tasks[0]
    policy = load_policy(job.policy).policy
    started = time.perf_counter()
    results = run_episodes(
        task, policy, plan_episodes(seed, task.task_id, job.missing[task.task_id]), NUM_ENVS
    )
    return sum(r.length for r in results) / (time.perf_counter() - started)


def _spin(seconds: float, counts, index: int) -> None:
    deadline, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        count += 1
    counts[index] = count


def measure_headroom(seconds: float = 2.0) -> float:
    """Work done by 2 busy processes / by 1, in the same wall time (2.0 on 2 idle cores)."""
    import multiprocessing

    done = {}
    for processes in (1, 2):
        counts = multiprocessing.Array("d", processes)
        workers = [
            multiprocessing.Process(target=_spin, args=(seconds, counts, k))
            for k in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done[processes] = sum(counts[:])
    return done[2] / done[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the episodes")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per worker count")
    args = parser.parse_args()

    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workload in make_workloads(Path(tmp), args.quick):
            rates: dict[int, list[float]] = {0: [], 1: [], 2: []}  # 0 workers: local backend
            startups: dict[int, list[float]] = {1: [], 2: []}
            headroom = []
            for repeat in range(args.repeats):
                headroom.append(measure_headroom())
                order = [1, 2, 0][repeat % 3 :] + [1, 2, 0][: repeat % 3]
                for workers in order:
                    if workers == 0:
                        rates[0].append(measure_local(workload, seed=repeat))
                        continue
                    rate, startup = measure_ray(workload, workers, seed=repeat)
                    rates[workers].append(rate)
                    startups[workers].append(startup)
            rows.append((workload, rates, startups, statistics.median(headroom)))
    ray.shutdown()

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"bench_ray (ray {ray.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {load}; medians of "
        f"{args.repeats} runs, order rotated)"
    )
    print(f"task {TASK}, {NUM_ENVS} envs per worker, default item size, one thread per worker")
    header = f"{'workload':<12} {'episodes':>8} {'backend':<16} {'env-steps/s':>12}"
    print(header + f" {'startup s':>10} {'vs 1 worker':>12}")
    for workload, rates, startups, headroom in rows:
        one = statistics.median(rates[1])
        episodes = f"{workload['episodes']}x{workload['steps']}"
        for workers in (1, 2):
            rate = statistics.median(rates[workers])
            startup = statistics.median(startups[workers])
            backend = f"ray, {workers} worker{'s' if workers > 1 else ''}"
            print(
                f"{workload['name']:<12} {episodes:>8} {backend:<16} {rate:>12,.0f} "
                f"{startup:>10.1f} {rate / one:>11.2f}x"
            )
        local = statistics.median(rates[0])
        print(
            f"{workload['name']:<12} {episodes:>8} {'local (1 proc)':<16} {local:>12,.0f} "
            f"{'':>10} {local / one:>11.2f}x"
        )
        print(f"{workload['name']:<12} headroom meanwhile, 2 vs 1 busy processes: {headroom:.2f}x")
    print(
        "2 workers can gain at most the headroom: 2x on 2 idle cores, less while other jobs "
        "share them (the load average above)."
    )


if __name__ == "__main__":
    main()
