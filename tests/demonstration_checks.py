"""Checks shared by the data set and collection tests: bit-exact episodes, replayed collections."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from gato_eval.core.episode import Episode
from gato_eval.experts import make_expert
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.suites.registry import get_task


def assert_same_episode(a: Episode, b: Episode) -> None:
    """Bit-exact equality of everything an episode holds (dtypes included)."""
    assert a.task_id == b.task_id and a.seed == b.seed and a.success == b.success
    assert sorted(a.observations) == sorted(b.observations)
    for key, value in a.observations.items():
        if key == "text":
            assert list(value) == list(b.observations[key])
        else:
            assert value.dtype == b.observations[key].dtype
            np.testing.assert_array_equal(value, b.observations[key])
    for name in ("actions", "rewards", "terminations", "truncations"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right)
    assert sorted(a.extras) == sorted(b.extras)
    for key in a.extras:
        np.testing.assert_array_equal(a.extras[key], b.extras[key])


def replay(task_id: str, indices, noise: float = 0.0, seed: int = 0) -> list[Episode]:
    """The episodes a collection with `seed` writes, played again outside the data layer."""
    task = get_task(task_id)
    with contextlib.redirect_stdout(io.StringIO()):
        results = run_episodes(
            task, make_expert(task, noise), plan_episodes(seed, task_id, indices, "collection"), 2,
            record_trajectories=True,
        )  # fmt: skip
    episodes = []
    for result in results:
        result.trajectory.extras["episode_index"] = result.episode
        episodes.append(result.trajectory)
    return episodes
