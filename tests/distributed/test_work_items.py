"""Work items and the driver's ledger, on hand-computable cases (no Ray needed)."""

from __future__ import annotations

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.distributed.work_items import (
    EpisodeLedger,
    WorkItem,
    default_item_size,
    split_work,
)


def test_items_cover_each_task_once_in_near_equal_blocks():
    items = split_work({"a": list(range(50)), "b": [3, 1, 2], "c": []}, item_size=16)
    assert [len(item.episodes) for item in items] == [13, 13, 12, 12, 3]
    assert [item.task_id for item in items] == ["a"] * 4 + ["b"]
    assert sum((item.episodes for item in items if item.task_id == "a"), ()) == tuple(range(50))
    assert items[-1] == WorkItem("b", (1, 2, 3))


def test_item_size_one_and_bad_sizes():
    assert split_work({"a": [4, 7]}, 1) == [WorkItem("a", (4,)), WorkItem("a", (7,))]
    with pytest.raises(GatoEvalError, match="item size"):
        split_work({"a": [0]}, 0)


@pytest.mark.parametrize(
    ("total", "workers", "envs", "size"),
    [
        (50 * 10, 4, 8, 32),  # plenty of work: four episodes per env slot, 4 rounds of 4 items
        (48, 2, 4, 12),  # 4 items of 12, not 3 of 16 that would idle a worker for a third
        (48, 1, 4, 16),
        (50, 8, 8, 7),  # one task, eight workers: an even share each, so none idles
        (3, 16, 8, 1),
        (0, 2, 8, 1),
    ],
)
def test_default_item_size(total, workers, envs, size):
    assert default_item_size(total, workers, envs) == size


def test_ledger_records_each_episode_once_and_only_wanted_ones():
    ledger = EpisodeLedger({"a": [0, 1, 2], "b": [5]})
    assert ledger.remaining == 4 and not ledger.task_complete("a")
    assert ledger.record("a", 1) is True
    assert ledger.record("a", 1) is False  # the same episode again: dropped
    assert ledger.record("a", 3) is False  # not wanted by this run (already on disk)
    assert ledger.record("zzz", 0) is False
    assert ledger.duplicates == 3
    assert ledger.unfinished(WorkItem("a", (0, 1, 2))) == [0, 2]
    for task, episode in (("a", 0), ("a", 2), ("b", 5)):
        assert ledger.record(task, episode)
    assert ledger.task_complete("a") and ledger.complete and ledger.remaining == 0


def test_a_lost_item_requeues_only_unrecorded_episodes_one_per_item():
    ledger = EpisodeLedger({"a": range(6)})
    item = WorkItem("a", (0, 1, 2, 3, 4, 5))
    ledger.record("a", 0)
    ledger.record("a", 3)
    retry, given_up = ledger.lose(item, "worker died")
    assert retry == [WorkItem("a", (e,)) for e in (1, 2, 4, 5)]
    assert given_up == [] and ledger.losses("a", 1) == 1 and ledger.losses("a", 0) == 0


def test_an_episode_lost_max_attempts_times_is_given_up_with_the_reason():
    ledger = EpisodeLedger({"a": [7]}, max_attempts=3)
    item = WorkItem("a", (7,))
    assert ledger.lose(item, "killed")[0] == [item]
    assert ledger.lose(item, "killed")[0] == [item]
    retry, given_up = ledger.lose(item, "no env step for 300 s")
    assert retry == [] and len(given_up) == 1
    assert given_up[0].episode == 7 and "3 times" in given_up[0].error
    assert "no env step for 300 s" in given_up[0].error
    assert not ledger.complete  # the driver records the failed episode; the ledger waits for it


@pytest.mark.parametrize("item_size", [1, 7, 16, 50])
def test_meta_world_items_together_visit_every_goal_variant_once(item_size):
    # Workers plan each item alone (`WorkItem.plan`), re-queued lost episodes included: the
    # goal variants of a task's 50 episodes must still be a permutation of the 50 variants.
    from gato_eval.rollout import plan_episodes

    task = "metaworld-reach"
    items = split_work({task: range(50), "dmc-cartpole-balance": range(5)}, item_size)
    ledger = EpisodeLedger({task: range(50), "dmc-cartpole-balance": range(5)})
    first = next(item for item in items if item.task_id == task)
    ledger.record(task, first.episodes[0])
    retry, _ = ledger.lose(first, "worker died")  # its other episodes come back one per item
    played = [first.plan(0)[0]] + [e for item in retry + items[1:] for e in item.plan(0)]
    variants = {e.index: e.options["goal_variant"] for e in played if e.options is not None}
    assert sorted(variants) == list(range(50))
    assert sorted(variants.values()) == list(range(50))
    by_index = {e.index: e for e in played if e.options is not None}
    assert [by_index[i] for i in range(50)] == plan_episodes(0, task, range(50))
