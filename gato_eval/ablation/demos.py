"""Demonstrations for the ablation: data sets made when missing, and nested demonstration subsets.

Fine-tuning on n demonstrations (paper Sec. 5.2) uses "nested random subsets of the best
episodes" of the held-out task's data set. Here:

1. the **pool**: the `best` best of the data set's first `episodes` episodes (the grid's
   `heldout_data`), ranked by success (where the task defines it), then return, ties by
   position;
2. for each seed, one permutation of the pool, drawn from `default_rng([seed, task digest])`;
3. the n-demonstration set is the permutation's first n episodes, so for one seed the n-set is
   contained in the m-set whenever n < m, and different seeds draw different subsets.

Data sets live where `gato-eval data collect` puts them (`gato_eval.core.paths.datasets_dir()`), so
evaluation prompts come from the same demonstrations. A missing data set is collected; one with
fewer episodes than the grid asks for gets the missing ones appended (only the first `episodes`
are ever read, so later appends change nothing the ablation used).
"""

from __future__ import annotations

import hashlib

import numpy as np

from gato_eval.collection.demonstrations import collect_demonstrations
from gato_eval.core.episode import Episode
from gato_eval.core.errors import GatoEvalError
from gato_eval.data.datasets import dataset_name, dataset_path, load_episodes, read_dataset_info
from gato_eval.data.minari_io import read_episodes


def ensure_dataset(task_id: str, episodes: int, noise: float, seed: int, progress=None):
    """The DatasetInfo of `task_id`'s data set with `noise`, holding at least `episodes`
    episodes: collected (or topped up) with run seed `seed` when it does not.

    progress: a `gato_eval.collection.demonstrations.CollectionProgress`, or None.
    """
    name = dataset_name(task_id, noise)
    path = dataset_path(name)
    if not path.is_dir():
        return collect_demonstrations(task_id, episodes, noise=noise, seed=seed, progress=progress)
    info = read_dataset_info(path)  # a corrupted data set is the user's to see
    if info.episodes < episodes:
        return collect_demonstrations(
            task_id,
            episodes - info.episodes,
            noise=noise,
            seed=seed,
            append=True,
            progress=progress,
        )
    return info


def best_positions(info, episodes: int, best: int) -> list[int]:
    """Positions of the `best` best of the data set's first `episodes` episodes, best first."""
    if info.episodes < episodes:
        raise GatoEvalError(
            f"data set {info.name} holds {info.episodes} episodes, the grid reads {episodes}"
        )
    ranked = sorted(
        range(episodes),
        key=lambda i: (not bool(info.successes[i]), -info.returns[i], i),
    )
    return ranked[:best]


def nested_subset(pool: list[int], n: int, seed: int, task_id: str) -> list[int]:
    """The first `n` of the seeded permutation of `pool` (see the module docstring)."""
    if not 1 <= n <= len(pool):
        raise GatoEvalError(f"cannot draw {n} demonstrations from a pool of {len(pool)}")
    digest = hashlib.sha256(f"ablation-demos/{task_id}".encode()).digest()
    rng = np.random.default_rng([int(seed), int.from_bytes(digest[:4], "little")])
    order = rng.permutation(len(pool))
    return [pool[int(i)] for i in order[:n]]


def read_positions(info, positions: list[int]) -> list[Episode]:
    """The episodes at `positions` of a data set, in that order."""
    try:
        return list(read_episodes(info.path / "data", info.task_id, positions))
    except (OSError, KeyError, ValueError) as err:
        raise GatoEvalError(
            f"data set {info.name} ({info.path}) is corrupted: reading episodes failed "
            f"({type(err).__name__}: {err}); delete it or recollect with --overwrite"
        ) from None


def describe_demonstrations(info, positions: list[int]) -> dict:
    """What a cell was fine-tuned on (recorded in its result row)."""
    return {
        "dataset": info.name,
        "positions": list(positions),
        "seeds": [info.seeds[i] for i in positions],
        "returns": [info.returns[i] for i in positions],
    }


def load_pretraining_episodes(plans, ensure, progress) -> tuple[dict[str, list], list[dict]]:
    """(task -> episodes, data sets used) of pretraining `plans` (grid.DatasetPlan): the first
    `episodes` of each data set, made by `ensure(task, episodes, noise)` when missing."""
    episodes: dict[str, list] = {}
    datasets = []
    for plan in plans:
        info = ensure(plan.task, plan.episodes, plan.noise)
        progress.stage(f"load {info.name} ({plan.episodes} episodes)")
        episodes.setdefault(plan.task, []).extend(load_episodes(info.name, plan.episodes))
        datasets.append({"name": info.name, "episodes": plan.episodes, "sha256": info.sha256})
    return episodes, datasets
