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

`measure_task_references` is `gato-eval data reference`: one of three measurements chosen by a
`ReferenceOptions`, recorded in a project reference table (`scores.project_table`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gato_eval.collection.demonstrations import CollectionProgress
from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.data.datasets import dataset_info, demonstrator_label
from gato_eval.experts import make_expert
from gato_eval.policies.random import RandomPolicy
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.scores.expert_rule import expert_window, windowed_expert_score
from gato_eval.scores.project_table import record_project_reference
from gato_eval.scores.sources import PROJECT_FILE
from gato_eval.suites.protocol import protocol_of
from gato_eval.suites.registry import get_task

RANDOM_SEED = 0
EXPERT_SEED = 1  # the run seed of the project's reference data sets (not the random one's)


@dataclass(frozen=True)
class RandomScore:
    """Mean return of `episodes` random episodes of `task_id` under `protocol`, seeded by run
    seed `seed`; `failed` episodes (env errors) are excluded from the mean and counted.
    `returns` (episodes,) in episode-index order; `upper_quartile` is the return a quarter of
    random episodes reach, which an expert must beat (Atari Private Eye: most random games score
    JAT's expert; `scores.sources`)."""

    task_id: str
    mean: float
    episodes: int
    seed: int
    failed: int
    protocol: str = "full"
    returns: tuple[float, ...] = ()

    @property
    def median(self) -> float | None:
        return float(np.median(self.returns)) if self.returns else None

    @property
    def upper_quartile(self) -> float | None:
        return upper_quartile(self.returns)


def upper_quartile(returns) -> float | None:
    """The 75th percentile of `returns` (linear interpolation), None for none."""
    return float(np.percentile(returns, 75)) if len(returns) else None


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
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise GatoEvalError(f"random episodes must be a positive integer, got {episodes!r}")
    spec, protocol = _spec_and_protocol(task)
    results = _play(spec, RandomPolicy(), episodes, seed, num_envs, progress)
    ok = [r.episode_return for r in results if not r.failed]
    if not ok:
        raise GatoEvalError(f"every random episode of {spec.task_id} failed: {results[0].error}")
    return RandomScore(
        spec.task_id,
        float(np.mean(ok)),
        len(ok),
        seed,
        len(results) - len(ok),
        protocol,
        tuple(float(r) for r in ok),
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
    if random.task_id != info.task_id:
        raise GatoEvalError(f"random score of {random.task_id} given for {info.task_id}")
    if random.protocol != "full":
        raise GatoEvalError(
            f"a data set's expert score is full-length; random was measured under {random.protocol}"
        )
    record_project_reference(
        info.task_id, random=random.mean, random_episodes=random.episodes,
        random_upper_quartile=random.upper_quartile, provenance=random_provenance(random),
        path=path,
    )  # fmt: skip
    written = record_project_reference(
        info.task_id, expert=info.expert_score, expert_episodes=info.episodes,
        window=expert_window(info.episodes), provenance=dataset_expert_provenance(info),
        path=path,
    )  # fmt: skip
    return info.expert_score, written


@dataclass(frozen=True)
class ReferenceOptions:
    """What `gato-eval data reference` measures and where it records it.

    Three measurements: by default the expert score of data set `dataset` (a name, or a task id
    with `noise`, in `data_dir`) and `random_episodes` full-length random episodes; with
    `max_steps`, random and `expert_episodes` demonstrator episodes played under that cap (no
    data set read); with `random_only`, random episodes only (`dataset` is then a task id,
    capped by `max_steps` if it caps). `shipped` writes the package's table instead of the
    user-local one.
    """

    dataset: str
    noise: float | None = None
    random_episodes: int = 50
    seed: int = 0
    num_envs: int = 4
    data_dir: Path | None = None
    shipped: bool = False
    max_steps: int | None = None
    expert_episodes: int = 50
    random_only: bool = False


@dataclass(frozen=True)
class RecordedReferences:
    """What `measure_task_references` measured and where it recorded it (the CLI prints it).

    `random` is the mean return of `random_episodes` uniform-random episodes. `expert` is None
    when only random was measured; else the max windowed mean return of `expert_episodes`
    episodes: a data set's (`dataset` names it) or, capped, demonstrator episodes played with
    window `window`.
    """

    path: Path  # the reference table written
    task: str
    protocol: str  # "full" or "max_steps=N" (gato_eval.suites.protocol)
    random: float
    random_episodes: int
    expert: float | None = None
    expert_episodes: int | None = None
    dataset: str | None = None
    window: int | None = None


ProgressFactory = Callable[[], AbstractContextManager[CollectionProgress]]


def measure_task_references(
    options: ReferenceOptions, open_progress: ProgressFactory | None = None
) -> RecordedReferences:
    """Measure the references `options` asks for and record them in a project reference table.

    `open_progress` opens one progress display per measurement (random, then expert), each told
    `started` once; default: none.
    """
    open_progress = open_progress or (lambda: nullcontext(None))
    path = PROJECT_FILE if options.shipped else None
    if options.random_only:
        return _record_random_reference(options, path, open_progress)
    if options.max_steps is not None:
        return _record_capped_references(options, path, open_progress)
    info = dataset_info(options.dataset, options.noise, options.data_dir)
    with open_progress() as progress:
        _started(progress, f"random {info.task_id}", options.random_episodes)
        random = measure_random_score(
            info.task_id,
            options.random_episodes,
            seed=options.seed,
            num_envs=options.num_envs,
            progress=progress,
        )
    expert, written = record_references(info, random, path=path)
    return RecordedReferences(
        written, info.task_id, random.protocol, random.mean, random.episodes,
        expert=expert, expert_episodes=info.episodes, dataset=info.name,
    )  # fmt: skip


def _record_random_reference(
    options: ReferenceOptions, path: Path | None, open_progress: ProgressFactory
) -> RecordedReferences:
    """Seeded uniform-random episodes of a task, no expert (`random_only`)."""
    task = options.dataset
    spec = get_task(task)
    if options.max_steps is not None and options.max_steps < spec.max_episode_steps:
        spec = replace(spec, max_episode_steps=options.max_steps)
    with open_progress() as progress:
        _started(progress, f"random {task} ({protocol_of(spec)})", options.random_episodes)
        random = measure_random_score(
            spec,
            options.random_episodes,
            seed=options.seed,
            num_envs=options.num_envs,
            progress=progress,
        )
    written = record_project_reference(
        task, protocol=random.protocol, random=random.mean, random_episodes=random.episodes,
        random_upper_quartile=random.upper_quartile, provenance=random_provenance(random),
        path=path,
    )  # fmt: skip
    return RecordedReferences(written, task, random.protocol, random.mean, random.episodes)


def _record_capped_references(
    options: ReferenceOptions, path: Path | None, open_progress: ProgressFactory
) -> RecordedReferences:
    """Random and demonstrator returns played under the cap `max_steps`."""
    task, max_steps = options.dataset, options.max_steps
    spec = get_task(task)
    if max_steps >= spec.max_episode_steps:
        raise GatoEvalError(
            f"--max-steps {max_steps} does not cap {task} (its episodes end by "
            f"{spec.max_episode_steps} steps): omit it to measure full-length references"
        )
    spec = replace(spec, max_episode_steps=max_steps)
    # num_envs is not passed on here: random plays on measure_random_score's default of 4 envs
    # and the demonstrator on one, as capped references always have been measured.
    with open_progress() as progress:
        _started(progress, f"random {task} ({protocol_of(spec)})", options.random_episodes)
        random = measure_random_score(
            spec, options.random_episodes, seed=options.seed, progress=progress
        )
    with open_progress() as progress:
        _started(progress, f"expert {task} ({protocol_of(spec)})", options.expert_episodes)
        expert = measure_expert_score(spec, options.expert_episodes, progress=progress)
    common = {"protocol": random.protocol, "path": path}
    record_project_reference(
        task, random=random.mean, random_episodes=random.episodes,
        random_upper_quartile=random.upper_quartile, provenance=random_provenance(random),
        **common,
    )  # fmt: skip
    written = record_project_reference(
        task, expert=expert.score, expert_episodes=expert.episodes, window=expert.window,
        provenance=expert_provenance(expert), **common,
    )  # fmt: skip
    return RecordedReferences(
        written, task, random.protocol, random.mean, random.episodes,
        expert=expert.score, expert_episodes=expert.episodes, window=expert.window,
    )  # fmt: skip


def _started(progress: CollectionProgress | None, name: str, episodes: int) -> None:
    if progress is not None:
        progress.started(name, episodes, 0)


def _spec_and_protocol(task: TaskSpec | str) -> tuple[TaskSpec, str]:
    spec = get_task(task) if isinstance(task, str) else task
    return spec, protocol_of(spec)


def _play(spec: TaskSpec, policy, episodes: int, seed: int, num_envs: int, progress):
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
