"""Reference scores measured from this project's own data: the expert and the random return.

- Expert (GATO.md Sec. 4, the paper's rule): the maximum over windows of the windowed mean
  return of a data set's episodes, in stored (collection) order, with window
  W = min(1000, 0.1 N), rounded down and at least 1.
- Random: the mean return of uniformly random actions (`gato_eval.policies.random`) over
  seeded episodes played by the rollout engine on the task's full-length episodes.

`record_references` writes both to a project reference table
(`gato_eval.suites.references.record_project_reference`) with their provenance.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gato_eval.errors import GatoEvalError

MAX_WINDOW = 1000
WINDOW_FRACTION = 0.1
RANDOM_SEED = 0


def expert_window(num_episodes: int) -> int:
    """W = min(1000, floor(0.1 N)), at least 1 (the paper does not say how 0.1 N is rounded)."""
    if num_episodes < 1:
        raise GatoEvalError("the expert score needs at least one episode")
    return max(1, min(MAX_WINDOW, math.floor(WINDOW_FRACTION * num_episodes)))


def windowed_expert_score(returns: Sequence[float]) -> float:
    """max over i of mean(returns[i : i + W]) for the window W of `expert_window(len(returns))`.

    returns: episode returns (N,) in the data set's order.
    """
    values = np.asarray(returns, dtype=np.float64)
    window = expert_window(len(values))
    sums = np.convolve(values, np.ones(window), mode="valid")  # (N - W + 1,) window sums
    return float(sums.max() / window)


@dataclass(frozen=True)
class RandomScore:
    """Mean return of `episodes` random episodes seeded by run seed `seed`."""

    task_id: str
    mean: float
    episodes: int
    seed: int
    failed: int


def measure_random_score(
    task_id: str, episodes: int = 50, seed: int = RANDOM_SEED, num_envs: int = 4, progress=None
) -> RandomScore:
    """Play `episodes` random episodes of `task_id` (full length) and average their returns.

    `progress`, when given, is told `steps(n)` and `episode(result)` as in collection.
    """
    import contextlib
    import io

    from gato_eval.policies.random import RandomPolicy
    from gato_eval.rollout import plan_episodes, run_episodes
    from gato_eval.suites.registry import get_task

    if not isinstance(episodes, int) or episodes < 1:
        raise GatoEvalError(f"random episodes must be a positive integer, got {episodes!r}")
    spec = get_task(task_id)
    with contextlib.redirect_stdout(io.StringIO()):  # minigrid's "Sampling rejected" prints
        results = run_episodes(
            spec,
            RandomPolicy(),
            plan_episodes(seed, task_id, range(episodes)),
            num_envs=min(num_envs, episodes),
            on_episode=progress.episode if progress is not None else None,
            on_steps=progress.steps if progress is not None else None,
        )
    ok = [r.episode_return for r in results if not r.failed]
    if not ok:
        raise GatoEvalError(f"every random episode of {task_id} failed: {results[0].error}")
    return RandomScore(task_id, float(np.mean(ok)), len(ok), seed, len(results) - len(ok))


def record_references(info, random: RandomScore, path: Path | None = None) -> tuple[float, Path]:
    """Record `info`'s expert score and `random`'s mean for `info.task_id`; returns both.

    `info` is a `datasets.DatasetInfo`; `path` the reference CSV (default: the user-local one).
    Returns (expert score, path written).
    """
    from gato_eval.data.datasets import demonstrator_label
    from gato_eval.suites.references import record_project_reference

    if random.task_id != info.task_id:
        raise GatoEvalError(f"random score of {random.task_id} given for {info.task_id}")
    today = dt.date.today().isoformat()
    expert = info.expert_score
    demonstrator = info.demonstrator
    seeds = sorted({c["seed"] for c in info.collections})
    random_text = (
        f"uniform random actions, mean of {random.episodes} full-length episodes, run seed "
        f"{random.seed} (episode seeds from gato_eval.rollout.episode_seed), {today}"
    )
    expert_text = (
        f"max windowed mean return (W={expert_window(info.episodes)}) of the {info.episodes} "
        f"episodes of data set {info.name} ({demonstrator_label(demonstrator)}, "
        f"noise {demonstrator['noise']:g}, run seed(s) {', '.join(map(str, seeds))}), {today}"
    )
    record_project_reference(
        info.task_id, random=random.mean, episodes=random.episodes, provenance=random_text,
        path=path,
    )  # fmt: skip
    written = record_project_reference(
        info.task_id, expert=expert, episodes=info.episodes, provenance=expert_text, path=path
    )
    return expert, written
