"""The pieces of data-parallel training that decide what each rank trains on."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from gato_eval.tokenizer.batch import TokenBatch
from gato_eval.training.data_parallel import (
    ProcessGroup,
    auto_processes,
    counted_per_row,
    rank_rows,
    take_rows,
)


def image_batch() -> TokenBatch:
    """3 rows of 6 positions with 2, 0 and 3 image patches; padding at the end of rows 1 and 2."""
    is_image = np.zeros((3, 6), bool)
    is_image[0, [0, 1]] = True
    is_image[2, [1, 2, 3]] = True
    valid = np.ones((3, 6), bool)
    valid[1, 4:] = False
    valid[2, 5:] = False
    loss_mask = valid & ~is_image
    loss_mask[:, 0] = False
    n = int(is_image.sum())
    return TokenBatch(
        token_ids=np.where(valid & ~is_image, np.arange(18).reshape(3, 6) + 1, 0),
        local_positions=np.zeros((3, 6), np.int64),
        is_image=is_image,
        loss_mask=loss_mask,
        valid=valid,
        timestep_start=valid.copy(),
        patches=np.arange(n, dtype=np.float32)[:, None, None, None]
        * np.ones((1, 3, 16, 16), np.float32),
        patch_row_interval=np.arange(2 * n, dtype=np.int64).reshape(n, 2),
        patch_col_interval=np.arange(2 * n, dtype=np.int64).reshape(n, 2),
    )


@pytest.mark.parametrize(("rows", "size"), [(8, 2), (7, 2), (5, 3), (4, 4)])
def test_ranks_split_every_row_once_in_order(rows, size):
    parts = [rank_rows(rows, ProcessGroup(rank, size)) for rank in range(size)]
    assert parts[0][0] == 0 and parts[-1][1] == rows
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert max(hi - lo for lo, hi in parts) - min(hi - lo for lo, hi in parts) <= 1


def test_taken_rows_keep_their_own_patches_and_targets():
    batch = image_batch()
    batch.check()
    first, rest = take_rows(batch, 0, 1), take_rows(batch, 1, 3)
    first.check()
    rest.check()
    assert [p[0, 0, 0] for p in first.patches] == [0.0, 1.0]
    assert [p[0, 0, 0] for p in rest.patches] == [2.0, 3.0, 4.0]
    assert np.array_equal(np.concatenate([first.token_ids, rest.token_ids]), batch.token_ids)
    counted = counted_per_row(batch)
    # Targets t+1 with loss_mask, valid and not an image: row 0 has 4, row 1 has 3, row 2 has 1.
    assert counted.tolist() == [4, 3, 1]
    assert counted_per_row(rest).tolist() == [3, 1]


def test_auto_takes_one_process_where_two_cannot_share_evenly():
    assert auto_processes(7, "cpu") == 1
    assert auto_processes(8, "cuda") == 1
    assert auto_processes(8, "cpu") in (1, 2)
    # Toy steps are dominated by the exchange and a second process's start: one process.
    assert auto_processes(4, "cpu", context_length=64) == 1
    assert auto_processes(8, "cpu", context_length=256) == 1


def test_auto_is_the_default_and_takes_two_where_cores_are_free(monkeypatch):
    from gato_eval.training import data_parallel
    from gato_eval.training.settings import TrainSettings

    monkeypatch.setattr(data_parallel, "free_physical_cores", lambda: 2)
    settings = TrainSettings(out=Path("unused"), context_length=512, batch_size=8)
    assert settings.processes == "auto"
    assert data_parallel.resolve_processes(settings) == 2
    monkeypatch.setattr(data_parallel, "free_physical_cores", lambda: 1)  # a busy machine
    assert data_parallel.resolve_processes(settings) == 1
