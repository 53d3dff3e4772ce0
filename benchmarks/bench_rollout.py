"""Rollout engine speed, measured side by side in one run (issue 7).

1. Harness overhead: `run_episodes` with a zero-cost policy (a constant action, no computation)
   against a raw gymnasium `SyncVectorEnv` loop stepping the same pre-made envs with the same
   constant action. Both are timed per env step, envs made outside the timing, and the two are
   alternated several times; the best timing of each is compared (on a shared machine the
   others only add other processes' load). Target: harness / raw <= 1.10.
2. Batching: env-steps/s of the Gato policy (a randomly initialised `gato-tiny`, no prompt,
   greedy) with 16 envs against 1 env on the same task, alternated and repeated: while the
   context fills, and once it slides (exact `recompute` window, and Transformer-XL `xl`).
   Target: >= 4x. For each case one more 1-env and 16-env run, under torch's profiler and
   untimed, split the CPU time into attention, matrix multiplies, other model ops, the envs'
   resets and steps, and the rest (harness, Python, profiler), and give the model ops' CPU time
   per env step at 1 and 16 envs and the 'ceiling': the speed-up 16 envs would reach if nothing
   but the model's ops and the envs cost anything. Where batching's limit comes from.

Times are CPU times of this one-threaded process (`time.process_time`), so the load other
processes put on a shared machine does not enter them.

Run: `python benchmarks/bench_rollout.py [--quick] [--overhead-only] [--tasks a,b]` (nox -s bench
runs it whole). One thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import contextlib
import importlib.util
import platform
import time
from dataclasses import replace

import numpy as np

# CPU time of this process, not wall time: on a shared 2-core machine wall time also counts the
# time spent waiting for a core, which other people's jobs decide. Everything timed here runs on
# one thread (torch included), so CPU time is the work done.
cpu_clock = time.process_time

HARNESS_TASKS = (
    "dmc-cartpole-balance",
    "babyai-go-to-local",
    "atari-pong",
    "metaworld-reach",
    "procgen-coinrun",  # where procgen is installed (README "Procgen"; nox -s bench does)
)
GATO_TASKS = ("dmc-cartpole-balance", "metaworld-reach")
NUM_ENVS = 8
MIN_EPISODES = 4  # per Gato timing: one 73-step episode on one env is too short to time
OVERHEAD_TARGET = 1.10
BATCH_TARGET = 4.0
SPLIT_COLUMNS = (
    ("attention", 9),
    ("matmul", 7),
    ("other ops", 9),
    ("envs", 4),
    ("rest", 4),
)


class ZeroCostPolicy:
    """The same constant action for every row: what is left is the harness itself."""

    def __init__(self, action):
        self.action = action

    def start(self, task, envs):
        self.actions = np.stack([self.action] * len(envs))

    def reset(self, env_index, seed):
        pass

    def act(self, observations, env_indices):
        return self.actions[: len(env_indices)]

    def close(self):
        pass


def constant_action(space):
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return np.int64(space.start)
    return np.zeros(space.shape, dtype=space.dtype)


def time_harness(task, envs, steps_per_env):
    """Seconds per env step of run_episodes over `envs` (one capped episode per slot)."""
    from gato_eval.rollout import plan_episodes, run_episodes

    capped = replace(task, max_episode_steps=steps_per_env)
    pool = iter(envs)
    counted = []
    started = cpu_clock()
    run_episodes(
        capped,
        ZeroCostPolicy(constant_action(envs[0].action_space)),
        plan_episodes(0, task.task_id, range(len(envs))),
        num_envs=len(envs),
        on_steps=counted.append,
        make_env=lambda spec: next(pool),
        step_timeout_s=300.0,  # as `gato-eval run suite` runs it (one setitimer pair per step)
    )
    return (cpu_clock() - started) / sum(counted)


def time_raw_vector_loop(task, envs, steps_per_env):
    """Seconds per env step of a plain SyncVectorEnv loop over the same envs.

    The envs are reset with the seeds of the harness's episodes, so both loops play the same
    episodes: a Procgen level costs what its layout costs to draw, and levels differ.
    """
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from gato_eval.rollout import episode_seed

    vector = SyncVectorEnv(
        [lambda env=env: env for env in envs], autoreset_mode=AutoresetMode.NEXT_STEP
    )
    action = np.stack([constant_action(envs[0].action_space)] * len(envs))
    seeds = [episode_seed(0, task.task_id, index) for index in range(len(envs))]
    started = cpu_clock()
    vector.reset(seed=seeds)
    for _ in range(steps_per_env):
        vector.step(action)
    return (cpu_clock() - started) / (steps_per_env * len(envs))


def bench_overhead(quick: bool, tasks=HARNESS_TASKS) -> list[str]:
    """The harness/raw table: per task the best timing of each loop and their ratio, and the
    range of the ratios of the alternated rounds (round i's harness over round i's raw timing),
    which shows how much one round's ratio moves on a shared machine."""
    from gato_eval.suites.registry import get_task, make_env

    lines = [
        f"harness overhead, zero-cost policy, {NUM_ENVS} envs (best of alternated timings; "
        "'rounds': the range of each alternated round's ratio)",
        f"{'task':24} {'raw CPU us/step':>15} {'harness CPU us/step':>19} {'ratio':>7} "
        f"{'rounds':>13}",
    ]
    ratios = []
    for task_id in tasks:
        task = get_task(task_id)
        if task.family == "procgen" and importlib.util.find_spec("procgen") is None:
            lines.append(f"{task_id:24} skipped: procgen is not installed")
            continue
        envs = [make_env(task) for _ in range(NUM_ENVS)]
        steps = 60 if quick else 250
        for env in envs:  # warm up: first resets compile/allocate
            env.reset(seed=0)
        raw, harness = [], []
        for _ in range(2 if quick else 5):
            raw.append(time_raw_vector_loop(task, envs, steps))
            harness.append(time_harness(task, envs, steps))
        ratio = min(harness) / min(raw)
        ratios.append(ratio)
        rounds = [h / r for h, r in zip(harness, raw, strict=True)]
        lines.append(
            f"{task_id:24} {min(raw) * 1e6:15.1f} {min(harness) * 1e6:19.1f} {ratio:7.3f} "
            f"{min(rounds):6.3f}-{max(rounds):.3f}"
        )
        for env in envs:
            env.close()
    worst = max(ratios)
    verdict = "meets" if worst <= OVERHEAD_TARGET else "MISSES"
    lines.append(f"worst ratio {worst:.3f}: {verdict} the target <= {OVERHEAD_TARGET:.2f}")
    return lines


def play_gato(task, num_envs, steps_per_env, model, window, around=None, env_clock=None):
    """(env steps, CPU seconds) of the Gato policy on `num_envs` envs, one capped episode each;
    a single env plays MIN_EPISODES episodes back to back, so that its timing is not one short
    episode's. `around`: a context manager entered around the timed run only (a profiler);
    `env_clock`: a one-item list that accumulates the CPU seconds spent in the envs' `reset` and
    `step`.
    """
    from gato_eval.policies.gato import GatoPolicy
    from gato_eval.rollout import plan_episodes, run_episodes
    from gato_eval.suites.registry import make_env

    capped = replace(task, max_episode_steps=steps_per_env)
    envs = [make_env(task) for _ in range(num_envs)]
    if env_clock is not None:
        envs = [EnvClock(env, env_clock) for env in envs]
    pool = iter(envs)
    counted = []
    with around or contextlib.nullcontext():
        started = cpu_clock()
        run_episodes(
            capped,
            GatoPolicy(model, prompt="none", window=window),
            plan_episodes(0, task.task_id, range(max(num_envs, MIN_EPISODES))),
            num_envs=num_envs,
            on_steps=counted.append,
            make_env=lambda spec: next(pool),
        )
        elapsed = cpu_clock() - started
    return sum(counted), elapsed


class EnvClock:
    """An env whose `reset` and `step` add their CPU seconds to `clock[0]`."""

    def __init__(self, env, clock):
        self._env, self._clock = env, clock

    def reset(self, **kwargs):
        return self._timed(self._env.reset, **kwargs)

    def step(self, action):
        return self._timed(self._env.step, action)

    def _timed(self, call, *args, **kwargs):
        started = cpu_clock()
        try:
            return call(*args, **kwargs)
        finally:
            self._clock[0] += cpu_clock() - started

    def __getattr__(self, name):
        return getattr(self._env, name)


def time_gato(task, num_envs, steps_per_env, model, window):
    """env-steps/s of the Gato policy (see play_gato)."""
    steps, elapsed = play_gato(task, num_envs, steps_per_env, model, window)
    return steps / elapsed


def time_split(task, num_envs, steps_per_env, model, window) -> dict[str, float]:
    """Where one run's CPU time goes, under torch's profiler (which adds to 'rest').

    Returns shares of the run's CPU time (attention, matmul, other ops, envs, rest), and the
    CPU seconds per env step of the model's own ops ('ops/step') and of the envs' resets and
    steps ('envs/step').
    """
    from torch.profiler import ProfilerActivity, profile

    profiler = profile(activities=[ProfilerActivity.CPU])
    env_clock = [0.0]
    steps, total = play_gato(
        task, num_envs, steps_per_env, model, window, around=profiler, env_clock=env_clock
    )
    ops = {event.key: event.self_cpu_time_total / 1e6 for event in profiler.key_averages()}
    attention = sum(t for key, t in ops.items() if "scaled_dot_product" in key)
    matmul = sum(ops.get(key, 0.0) for key in ("aten::addmm", "aten::mm", "aten::bmm"))
    model_ops = sum(ops.values())
    return {
        "attention": attention / total,
        "matmul": matmul / total,
        "other ops": (model_ops - attention - matmul) / total,
        "envs": env_clock[0] / total,
        "rest": 1 - (model_ops + env_clock[0]) / total,
        "ops/step": model_ops / steps,
        "envs/step": env_clock[0] / steps,
    }


def tokens_per_step(task, layout) -> int:
    from gato_eval.suites.registry import make_env
    from gato_eval.tokenizer.timestep import TimestepTokenizer

    env = make_env(task)
    try:
        return TimestepTokenizer.for_env(env, layout).tokens_per_timestep()
    finally:
        env.close()


def bench_batching(quick: bool) -> list[str]:
    import torch

    from gato_eval.model import GatoModel, get_preset
    from gato_eval.suites.registry import get_task

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GatoModel(get_preset("gato-tiny", dropout=0.0)).eval()
    context = model.config.context_length
    repeats = 1 if quick else 3
    lines = [
        f"gato policy, randomly initialised gato-tiny ({context}-token context), no prompt, "
        f"greedy; best of {repeats} alternated 1-env / 16-env timings. 'filling': episodes "
        "short enough that the context never slides; 'sliding': long enough that it slides, "
        "with the exact 'recompute' window (default) and Transformer-XL memory ('xl')",
        f"{'task':22} {'tokens/step':>11} {'phase (steps)':>18} {'1 env steps/CPU-s':>18} "
        f"{'16 envs steps/CPU-s':>20} {'speed-up':>9}",
    ]
    splits = []
    for task_id in GATO_TASKS:
        task = get_task(task_id)
        per_step = tokens_per_step(task, model.config.layout)
        sliding = 60 if quick else 150
        cases = [
            ("filling", context // per_step, "recompute"),
            ("sliding", sliding, "recompute"),
            ("sliding xl", sliding, "xl"),
        ]
        for phase, steps, window in cases:
            ones, sixteens = [], []
            for _ in range(repeats):
                ones.append(time_gato(task, 1, steps, model, window))
                sixteens.append(time_gato(task, 16, steps, model, window))
            speedup = max(sixteens) / max(ones)
            verdict = "meets" if speedup >= BATCH_TARGET else "MISSES"
            label = f"{phase} ({steps})"
            lines.append(
                f"{task_id:22} {per_step:11d} {label:>18} {max(ones):18.1f} "
                f"{max(sixteens):20.1f} {speedup:8.2f}x  "
                f"({verdict} >= {BATCH_TARGET:.0f}x)"
            )
            one = time_split(task, 1, steps, model, window)
            sixteen = time_split(task, 16, steps, model, window)
            splits.append((task_id, label, max(ones), one, sixteen))
    return lines + split_lines(splits)


def split_lines(splits) -> list[str]:
    """The profiled runs' table: where 16 envs' CPU time goes, and what batching can reach.

    'ceiling' is the 16-env speed-up if everything but the model's ops and the envs' work cost
    nothing at 16 envs: (1 / (ops + envs per env step at 16 envs)) / the best 1-env rate. The
    profiler's own cost inflates 'ops' a little, so the true ceiling is slightly higher.
    """
    lines = [
        "",
        "where a 16-env run's CPU time goes, and what batching could reach (one more 1-env and "
        "16-env run of each case, under torch's profiler, untimed: 'rest' = harness, Python and "
        "the profiler itself; 'model ops' = CPU time of the model's torch ops per env step; "
        "'ceiling' = the speed-up if the rest cost nothing at 16 envs)",
        f"{'task':22} {'phase (steps)':>18} {'attention':>10} {'matmuls':>8} "
        f"{'other ops':>10} {'envs':>5} {'rest':>5} {'model ops us/step 1 env':>24} "
        f"{'16 envs':>8} {'ceiling':>8}",
    ]
    for task_id, label, one_rate, one, sixteen in splits:
        shares = [f"{100 * sixteen[key]:{width}.0f}%" for key, width in SPLIT_COLUMNS]
        ceiling = 1 / (sixteen["ops/step"] + sixteen["envs/step"]) / one_rate
        lines.append(
            f"{task_id:22} {label:>18} "
            + " ".join(shares)
            + f" {1e6 * one['ops/step']:24.0f} {1e6 * sixteen['ops/step']:8.0f} "
            f"{ceiling:7.2f}x"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument(
        "--overhead-only", action="store_true", help="only the harness-overhead table (part 1)"
    )
    parser.add_argument(
        "--tasks",
        default=",".join(HARNESS_TASKS),
        help="comma-separated task ids of the overhead table (default: %(default)s)",
    )
    args = parser.parse_args()
    import torch

    print(
        f"bench_rollout on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, one thread"
    )
    for line in bench_overhead(args.quick, args.tasks.split(",")):
        print(line, flush=True)
    if args.overhead_only:
        return
    print()
    for line in bench_batching(args.quick):
        print(line, flush=True)


if __name__ == "__main__":
    main()
