"""How a run's missing episodes become work items, and the driver's ledger of what is recorded.

A **work item** is a block of episode indices of one task. A worker plays it with one call of
`rollout.run_episodes` over its own `num_envs` env slots. Because every episode is planned by
`rollout.plan_episodes` from (run seed, task, episode) alone (its reset seed and, for Meta-World,
its goal variant), how episodes are grouped into items (and which worker plays an item) cannot
change any episode's result for a deterministic policy.

Item size trades three costs: each item builds `num_envs` envs and calls `policy.start` once
(bigger items amortize that: a DMC env takes ~70 ms to build, 4 slots x 2 episodes of 1000 random
steps ~1.6 s to play here); an item ends when its slowest slot ends (bigger items leave slots idle
for a smaller share of the time); the last items of a run decide when it ends (smaller items
balance better over many workers). The default aims at `4 * num_envs` episodes (4 episodes per
slot) and shrinks so that the items come in whole rounds of `workers`: 48 episodes on 2 workers
with 4 envs are 4 items of 12, not 3 of 16 that would leave one worker idle for a third of the run.

The **ledger** lives in the driver. It records each (task, episode) once, whatever arrives twice,
and when a worker is lost it re-queues exactly the episodes of the lost item that are not
recorded, one episode per item (so an episode that kills its worker takes down only itself
next time). An episode lost `max_attempts` times is given up: the driver records it as failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gato_eval.core.errors import GatoEvalError
from gato_eval.rollout import plan_episodes

DEFAULT_MAX_ATTEMPTS = 3
ITEM_SLOT_ROUNDS = 4  # default item size: about this many episodes per env slot


@dataclass(frozen=True)
class WorkItem:
    """Episodes `episodes` (indices, ascending) of task `task_id`, played by one worker."""

    task_id: str
    episodes: tuple[int, ...]

    def plan(self, run_seed: int) -> list:
        """The item's episodes as the engine plays them (`rollout.plan_episodes`)."""

        return plan_episodes(run_seed, self.task_id, self.episodes)

    def describe(self) -> str:
        first, last = self.episodes[0], self.episodes[-1]
        span = f"episode {first}" if first == last else f"episodes {first}-{last}"
        return f"{self.task_id} {span} ({len(self.episodes)})"


def default_item_size(total_episodes: int, workers: int, num_envs: int) -> int:
    """Episodes per item: at most `4 * num_envs`, sized so that the run's items come in whole
    rounds of one item per worker (see the module docstring)."""
    if total_episodes < 1:
        return 1
    workers = max(1, workers)
    target = ITEM_SLOT_ROUNDS * max(1, num_envs)
    rounds = math.ceil(total_episodes / (workers * target))
    return max(1, math.ceil(total_episodes / (workers * rounds)))


def split_work(missing: Mapping[str, Sequence[int]], item_size: int) -> list[WorkItem]:
    """Cut each task's missing episodes into items of at most `item_size`, near-equal in size.

    Tasks keep their order (so a run fills its tasks roughly in suite order); a task's 50 missing
    episodes with item size 16 become items of 13, 13, 12 and 12 episodes, not 16, 16, 16 and 2.
    """
    if item_size < 1:
        raise GatoEvalError(f"the work item size must be >= 1, got {item_size}")
    items = []
    for task_id, episodes in missing.items():
        episodes = sorted(int(e) for e in episodes)
        if not episodes:
            continue
        count = math.ceil(len(episodes) / item_size)
        base, extra = divmod(len(episodes), count)
        start = 0
        for k in range(count):
            size = base + (1 if k < extra else 0)
            items.append(WorkItem(task_id, tuple(episodes[start : start + size])))
            start += size
    return items


@dataclass(frozen=True)
class GivenUp:
    """An episode lost with its worker too often: the driver records it as failed."""

    task_id: str
    episode: int
    error: str


class EpisodeLedger:
    """Which of the run's wanted episodes are recorded, and how often each one was lost.

    `wanted` is task id -> the episode indices this run must record (the missing ones).
    """

    def __init__(
        self, wanted: Mapping[str, Sequence[int]], max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ):
        if max_attempts < 1:
            raise GatoEvalError(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self._wanted = {task: {int(e) for e in episodes} for task, episodes in wanted.items()}
        self._recorded: dict[str, set[int]] = {task: set() for task in self._wanted}
        self._losses: dict[tuple[str, int], int] = {}
        self.duplicates = 0

    @property
    def remaining(self) -> int:
        """Wanted episodes not recorded yet."""
        return sum(len(self._wanted[t] - self._recorded[t]) for t in self._wanted)

    @property
    def complete(self) -> bool:
        return self.remaining == 0

    def task_complete(self, task_id: str) -> bool:
        return self._wanted[task_id] <= self._recorded[task_id]

    def record(self, task_id: str, episode: int) -> bool:
        """Mark (task, episode) recorded. False (and counted) when it is not wanted or already in:
        the caller must then drop the record, not write it."""
        wanted = self._wanted.get(task_id)
        if wanted is None or episode not in wanted or episode in self._recorded[task_id]:
            self.duplicates += 1
            return False
        self._recorded[task_id].add(episode)
        return True

    def unfinished(self, item: WorkItem) -> list[int]:
        """The episodes of `item` that are not recorded yet."""
        done = self._recorded[item.task_id]
        return [e for e in item.episodes if e not in done]

    def losses(self, task_id: str, episode: int) -> int:
        """How many times this episode was lost with its worker."""
        return self._losses.get((task_id, episode), 0)

    def lose(self, item: WorkItem, reason: str) -> tuple[list[WorkItem], list[GivenUp]]:
        """The worker playing `item` is gone. Returns (single-episode items to re-queue, episodes
        given up after `max_attempts` losses); recorded episodes of the item are in neither."""
        retry, given_up = [], []
        for episode in self.unfinished(item):
            key = (item.task_id, episode)
            self._losses[key] = self._losses.get(key, 0) + 1
            if self._losses[key] >= self.max_attempts:
                given_up.append(
                    GivenUp(
                        item.task_id,
                        episode,
                        f"lost with its Ray worker {self._losses[key]} times (last: {reason})",
                    )
                )
            else:
                retry.append(WorkItem(item.task_id, (episode,)))
        return retry, given_up
