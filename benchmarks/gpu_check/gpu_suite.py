"""Step (3) of the GPU check: `run suite default`'s rollout with a randomly initialised model on
the device: env-steps/s, and where the wall time goes (the model vs the environments).

The policy is loaded by `load_policy`, exactly as `gato-eval run suite --model DIR` loads it
(bundled prompts, greedy, the exact recompute window), and every task is played by
`rollout.run_episodes`, the loop `run suite` uses, one episode per env, each capped at
plan.max_steps: a timing of the steady loop, not a score. Wall clocks wrap the policy's `act`
(tokenizing, the model, decoding: it returns host arrays, so the device work is inside) and
every env's creation, `reset` and `step`; the rest is the harness.

The random model uses gato-79m's shape with the bundled model's token layout and SentencePiece
model (a 1,024-subword text vocabulary): gato-eval ships no 32,000-subword tokenizer, and the
text table's size does not change the decoding cost of an action token.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from gato_eval.model.checkpoint import load_checkpoint, save_checkpoint
from gato_eval.model.config import get_preset
from gato_eval.model.transformer import GatoModel
from gato_eval.policies.loading import bundled_model_dir, load_policy
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.suites.registry import get_suite, make_env


class WallClock:
    """Seconds accumulated by the calls it wraps."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, call, *args, **kwargs):
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


class TimedEnv:
    """An env whose `reset` and `step` add their wall seconds to `clock`."""

    def __init__(self, env, clock: WallClock) -> None:
        self._env, self._clock = env, clock

    def reset(self, **kwargs):
        return self._clock.timed(self._env.reset, **kwargs)

    def step(self, action):
        return self._clock.timed(self._env.step, action)

    def __getattr__(self, name):
        return getattr(self._env, name)


class TimedPolicy:
    """A policy whose `act` adds its wall seconds to `clock`; everything else passes through."""

    def __init__(self, policy, clock: WallClock) -> None:
        self._policy, self._clock = policy, clock

    def act(self, observations, env_indices):
        return self._clock.timed(self._policy.act, observations, env_indices)

    def __getattr__(self, name):
        return getattr(self._policy, name)


def random_checkpoint(preset: str, directory: Path) -> Path:
    """A randomly initialised `preset` (seed 0) saved as a checkpoint, with the bundled
    tokenizer and its layout (see the module docstring)."""
    _, bundled, tokenizer = load_checkpoint(bundled_model_dir())
    torch.manual_seed(0)
    model = GatoModel(get_preset(preset, layout=bundled.layout, dropout=0.0))
    provenance = {"kind": "random-init", "seed": 0, "note": "GPU check, issue 25"}
    return save_checkpoint(model, directory, tokenizer_path=tokenizer, provenance=provenance)


def totals(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The tasks' rows together: env-steps/s and shares weighted by each task's wall time."""
    wall = sum(r["wall_s"] for r in rows)
    steps = sum(r["env_steps"] for r in rows)
    return {
        "env_steps": steps,
        "wall_s": wall,
        "env_steps_per_s": steps / wall,
        "model_share": sum(r["model_share"] * r["wall_s"] for r in rows) / wall,
        "env_share": sum(r["env_share"] * r["wall_s"] for r in rows) / wall,
    }


def run_suite_timing(plan, device: str, scratch: Path, emit, partial=lambda r: None) -> dict:
    """Play plan.suite's tasks with a random model; per task and overall env-steps/s and the
    wall-time shares of the policy and the envs (`partial` gets the result after each task)."""
    from gpu_runner import limit_s

    began, limit = time.perf_counter(), limit_s()
    suite_plan = plan.suite
    checkpoint = random_checkpoint(suite_plan.preset, scratch / f"random-{suite_plan.preset}")
    loaded = load_policy(str(checkpoint), device=device, prompt_source="bundled")
    suite = get_suite(suite_plan.suite)
    tasks = [t for t in suite.task_specs() if not suite_plan.tasks or t.task_id in suite_plan.tasks]
    loaded.policy.prepare(tasks)
    emit(
        f"suite {suite.name}: {len(tasks)} tasks, random {suite_plan.preset} on {device}, "
        f"{suite_plan.envs} envs, one episode each, <= {suite_plan.max_steps} steps"
    )
    rows, skipped = [], []
    for task in tasks:
        spent = time.perf_counter() - began
        if rows and spent + spent / len(rows) > limit - 5:  # the next task would not finish
            skipped.append(task.task_id)
            continue
        capped = replace(task, max_episode_steps=min(task.max_episode_steps, suite_plan.max_steps))
        env_clock, model_clock, steps = WallClock(), WallClock(), []
        start = time.perf_counter()
        run_episodes(
            capped,
            TimedPolicy(loaded.policy, model_clock),
            plan_episodes(0, task.task_id, range(suite_plan.envs)),
            num_envs=suite_plan.envs,
            make_env=lambda spec, clock=env_clock: TimedEnv(clock.timed(make_env, spec), clock),
            on_steps=steps.append,
        )
        wall = time.perf_counter() - start
        row = {
            "task": task.task_id,
            "env_steps": sum(steps),
            "wall_s": wall,
            "env_steps_per_s": sum(steps) / wall,
            "model_share": model_clock.seconds / wall,
            "env_share": env_clock.seconds / wall,
        }
        rows.append(row)
        partial(_result(suite_plan, rows, [t.task_id for t in tasks[len(rows) :]]))
        emit(
            f"  {task.task_id}: {row['env_steps']} env steps, {row['env_steps_per_s']:,.0f}/s, "
            f"model {row['model_share']:.0%}, envs {row['env_share']:.0%}"
        )
    loaded.policy.close()
    if skipped:
        emit(f"not played, the step's {limit:.0f} s would have run out: {', '.join(skipped)}")
    result = _result(suite_plan, rows, skipped)
    total = result["total"]
    emit(
        f"all tasks: {total['env_steps_per_s']:,.0f} env-steps/s; wall time: model "
        f"{total['model_share']:.0%}, envs {total['env_share']:.0%}, "
        f"harness {1 - total['model_share'] - total['env_share']:.0%}"
    )
    return result


def _result(suite_plan, rows: list[dict[str, Any]], not_played: list[str]) -> dict[str, Any]:
    return {
        "preset": suite_plan.preset,
        "envs": suite_plan.envs,
        "max_steps": suite_plan.max_steps,
        "tasks": rows,
        "total": totals(rows),
        "not_played": not_played,
    }
