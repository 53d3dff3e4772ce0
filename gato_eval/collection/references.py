"""Reference scores measured from this project's own episodes: the expert and the random return.

- Expert (GATO.md Sec. 4, the paper's rule): the maximum over windows of the windowed mean
  return of the demonstrator's episodes, in episode-index (collection) order, with window
  W = min(1000, 0.1 N), rounded down and at least 1. Under the full protocol the episodes are a
  stored data set (`DatasetInfo.expert_score`); under a capped protocol (`max_steps=1000`, the
  `default` suite's Atari) they are played by `measure_expert_score` on the capped spec and not
  stored, since a data set holds full-length episodes only.
- Random: the mean return of uniformly random actions (`gato_eval.policies.random`) over
  seeded episodes played by the rollout engine under the spec's protocol.

Every measurement says how it was made (`*_provenance`): source, demonstrator and version, data
set, N, W, seeds, protocol and date, the text the reference tables store next to each number.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.scores.expert_rule import (
    expert_window,
    windowed_expert_score,
)

RANDOM_SEED = 0
EXPERT_SEED = 1  # the run seed of the project's reference data sets (not the random one's)


@dataclass(frozen=True)
class RandomScore:
    """Mean return of `episodes` random episodes of `task_id` under `protocol`, seeded by run
    seed `seed`; `failed` episodes (env errors) are excluded from the mean and counted."""

    task_id: str
    mean: float
    episodes: int
    seed: int
    failed: int
    protocol: str = "full"


@dataclass(frozen=True)
class ExpertScore:
    """The paper's expert return of a demonstrator's clean episodes of `task_id` under
    `protocol`: `returns` (N,) in episode-index order, `window` W, `score` = max windowed mean."""

    task_id: str
    protocol: str
    score: float
    returns: tuple[float, ...]
    window: int
    demonstrator: str
    seed: int
    failed: int

    @property
    def episodes(self) -> int:
        return len(self.returns)


def measure_random_score(
    task: TaskSpec | str,
    episodes: int = 50,
    seed: int = RANDOM_SEED,
    num_envs: int = 4,
    progress=None,
) -> RandomScore:
    """Play `episodes` random episodes of `task` (a task id: full length; a spec: its protocol,
    e.g. a suite's step cap) and average their returns.

    `progress`, when given, is told `steps(n)` and `episode(result)` as in collection.
    """
    from gato_eval.policies.random import RandomPolicy

    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise GatoEvalError(f"random episodes must be a positive integer, got {episodes!r}")
    spec, protocol = _spec_and_protocol(task)
    results = _play(spec, RandomPolicy(), episodes, seed, num_envs, progress)
    ok = [r.episode_return for r in results if not r.failed]
    if not ok:
        raise GatoEvalError(f"every random episode of {spec.task_id} failed: {results[0].error}")
    return RandomScore(
        spec.task_id, float(np.mean(ok)), len(ok), seed, len(results) - len(ok), protocol
    )


def measure_expert_score(
    task: TaskSpec | str,
    episodes: int,
    seed: int = EXPERT_SEED,
    num_envs: int = 1,
    progress=None,
) -> ExpertScore:
    """Play `episodes` clean episodes of `task`'s demonstrator under the spec's protocol (not
    stored) and take their expert return by the paper's rule (`windowed_expert_score`).

    For the full protocol prefer a data set (`DatasetInfo.expert_score`): the episodes are then
    kept. A failed episode (an env error) is left out of the window sequence and counted.
    """
    from gato_eval.data.datasets import demonstrator_label
    from gato_eval.experts import make_expert

    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise GatoEvalError(f"expert episodes must be a positive integer, got {episodes!r}")
    spec, protocol = _spec_and_protocol(task)
    expert = make_expert(spec)
    results = _play(spec, expert, episodes, seed, num_envs, progress)
    returns = tuple(float(r.episode_return) for r in results if not r.failed)
    if not returns:
        raise GatoEvalError(f"every expert episode of {spec.task_id} failed: {results[0].error}")
    return ExpertScore(
        task_id=spec.task_id,
        protocol=protocol,
        score=windowed_expert_score(returns),
        returns=returns,
        window=expert_window(len(returns)),
        demonstrator=demonstrator_label(expert.describe()),
        seed=seed,
        failed=len(results) - len(returns),
    )


def random_provenance(random: RandomScore, day: str | None = None) -> str:
    """How `random` was measured, for a reference table's provenance column."""
    length = "full-length" if random.protocol == "full" else f"{random.protocol}"
    failed = f", {random.failed} failed episodes left out" if random.failed else ""
    return (
        f"project: uniform random actions, mean of {random.episodes} {length} episodes{failed}, "
        f"run seed {random.seed} (episode seeds from gato_eval.rollout.episode_seed), "
        f"{day or _today()}"
    )


def expert_provenance(expert: ExpertScore, day: str | None = None) -> str:
    """How `expert` (episodes played, not stored) was measured, for a provenance column."""
    failed = f", {expert.failed} failed episodes left out" if expert.failed else ""
    return (
        f"project: max windowed mean return (W={expert.window}) of {expert.episodes} "
        f"{expert.protocol} episodes of {expert.demonstrator} (noise 0, run seed {expert.seed}, "
        f"played in episode-index order, not stored){failed}, {day or _today()}"
    )


def dataset_expert_provenance(info, day: str | None = None) -> str:
    """How the expert score of data set `info` (a `datasets.DatasetInfo`) was taken."""
    from gato_eval.data.datasets import demonstrator_label

    seeds = sorted({c["seed"] for c in info.collections})
    return (
        f"project: max windowed mean return (W={expert_window(info.episodes)}) of the "
        f"{info.episodes} episodes of data set {info.name} "
        f"({demonstrator_label(info.demonstrator)}, noise {info.demonstrator['noise']:g}, "
        f"run seed(s) {', '.join(map(str, seeds))}, sha256 {info.sha256[:12]}), "
        f"{day or _today()}"
    )


def record_references(info, random: RandomScore, path: Path | None = None) -> tuple[float, Path]:
    """Record `info`'s expert score and `random`'s mean for `info.task_id`; returns both.

    `info` is a `datasets.DatasetInfo` (full-length episodes, so `random` must be full-length
    too); `path` the reference CSV (default: the user-local one).
    Returns (expert score, path written).
    """
    from gato_eval.scores.references import record_project_reference

    if random.task_id != info.task_id:
        raise GatoEvalError(f"random score of {random.task_id} given for {info.task_id}")
    if random.protocol != "full":
        raise GatoEvalError(
            f"a data set's expert score is full-length; random was measured under {random.protocol}"
        )
    record_project_reference(
        info.task_id, random=random.mean, random_episodes=random.episodes,
        provenance=random_provenance(random), path=path,
    )  # fmt: skip
    written = record_project_reference(
        info.task_id, expert=info.expert_score, expert_episodes=info.episodes,
        window=expert_window(info.episodes), provenance=dataset_expert_provenance(info),
        path=path,
    )  # fmt: skip
    return info.expert_score, written


def _spec_and_protocol(task: TaskSpec | str) -> tuple[TaskSpec, str]:
    from gato_eval.suites.protocol import protocol_of
    from gato_eval.suites.registry import get_task

    spec = get_task(task) if isinstance(task, str) else task
    return spec, protocol_of(spec)


def _play(spec: TaskSpec, policy, episodes: int, seed: int, num_envs: int, progress):
    from gato_eval.rollout import plan_episodes, run_episodes

    with contextlib.redirect_stdout(io.StringIO()):  # minigrid's "Sampling rejected" prints
        return run_episodes(
            spec,
            policy,
            plan_episodes(seed, spec.task_id, range(episodes)),
            num_envs=min(num_envs, episodes),
            on_episode=progress.episode if progress is not None else None,
            on_steps=progress.steps if progress is not None else None,
        )


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()
