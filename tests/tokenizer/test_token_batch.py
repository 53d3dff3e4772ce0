"""TokenBatch rows: concat, window, row, stack keep patches in step with image positions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.batch import (
    TokenBatch,
    concat_rows,
    empty_token_batch,
    stack_rows,
)
from gato_eval.tokenizer.timestep import TimestepTokenizer

FIELDS = (
    "token_ids",
    "local_positions",
    "is_image",
    "loss_mask",
    "valid",
    "timestep_start",
    "patches",
    "patch_row_interval",
    "patch_col_interval",
)
TIMESTEP = 2 + 1 + 1 + 1  # 2 patches (16x32 image), 1 discrete value, separator, 1 action


def assert_same(a: TokenBatch, b: TokenBatch) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def tokenizer(small_layout):
    space = spaces.Dict(
        {
            "image": spaces.Box(0, 255, (16, 32, 3), np.uint8),
            "discrete": spaces.Box(0, 1023, (1,), np.int64),
        }
    )
    return TimestepTokenizer(space, spaces.Discrete(4), small_layout)


def episode(tokenizer, steps: int, mark: int = 0) -> TokenBatch:
    """An episode whose every image is filled with a value telling (mark, t) apart."""
    images = (mark * 50 + np.arange(steps + 1, dtype=np.uint8))[:, None, None, None]
    obs = {
        "image": np.broadcast_to(images, (steps + 1, 16, 32, 3)).copy(),
        "discrete": np.arange(steps + 1)[:, None] % 1024,
    }
    return tokenizer.encode_episode(obs, np.arange(steps) % 4)


def test_window_cuts_only_at_timestep_starts(tokenizer):
    full = episode(tokenizer, 6)
    assert full.timestep_starts().tolist() == [0, 5, 10, 15, 20, 25]
    window = full.window(5, 12)  # 12 positions hold 2 whole timesteps
    window.check()
    assert window.shape == (1, 10) and window.timestep_starts().tolist() == [0, 5]
    np.testing.assert_array_equal(window.token_ids, full.token_ids[:, 5:15])
    np.testing.assert_array_equal(window.loss_mask, full.loss_mask[:, 5:15])
    np.testing.assert_array_equal(window.patches, full.patches[2:6])
    partial = full.window(5, 12, whole_timesteps=False)
    assert partial.shape == (1, 12) and len(partial.patches) == 6
    assert full.window(25, 100).shape == (1, 5)  # the last timestep: ends with the row
    with pytest.raises(GatoEvalError, match="position 3 is not one"):
        full.window(3, 10)
    with pytest.raises(GatoEvalError, match="holds no whole timestep"):
        full.window(0, 4)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.data())
def test_windows_at_any_cut_points_concatenate_back(tokenizer, steps, data):
    full = episode(tokenizer, steps)
    starts = full.timestep_starts().tolist()
    cuts = sorted(data.draw(st.sets(st.sampled_from(starts[1:]))) if steps > 1 else [])
    bounds = [0, *cuts, full.shape[1]]
    pieces = [full.window(a, b - a) for a, b in itertools.pairwise(bounds)]
    assert_same(concat_rows(pieces), full)


def test_concat_rows_of_ragged_rows(tokenizer):
    a = stack_rows([episode(tokenizer, 1, mark=0), episode(tokenizer, 3, mark=1)])
    b = stack_rows([episode(tokenizer, 2, mark=2), episode(tokenizer, 1, mark=3)])
    joined = concat_rows([a, b])
    joined.check()
    assert joined.lengths.tolist() == [5 + 10, 15 + 5]
    for row, (first, second) in enumerate([(0, 2), (1, 3)]):
        expected = concat_rows([a.row(row), b.row(row)])
        assert_same(joined.row(row), expected)
        marks = np.round((joined.row(row).patches[:, 0, 0, 0] * 4 + 1) * 127.5).astype(int) // 50
        assert marks.tolist() == sorted(marks.tolist())  # part 0 patches before part 1's
        assert set(marks.tolist()) == {first, second}


def test_concat_with_an_empty_context_is_identity(tokenizer):
    rows = stack_rows([episode(tokenizer, 2), episode(tokenizer, 1, mark=1)])
    assert_same(concat_rows([empty_token_batch(2), rows]), rows)
    with pytest.raises(ValueError, match="row counts differ"):
        concat_rows([empty_token_batch(1), rows])


def test_stack_rows_pads_and_row_unpads(tokenizer):
    eps = [episode(tokenizer, n, mark=n) for n in (3, 1, 2)]
    stacked = stack_rows(eps)
    stacked.check()
    assert stacked.shape == (3, 15) and stacked.lengths.tolist() == [15, 5, 10]
    for i, ep in enumerate(eps):
        assert_same(stacked.row(i), ep)
    assert_same(stack_rows([stacked.row(i) for i in range(3)]), stacked)
    assert stack_rows(eps, length=20).shape == (3, 20)
    with pytest.raises(GatoEvalError, match="15 positions does not fit length 12"):
        stack_rows(eps, length=12)


def test_check_catches_inconsistent_batches(tokenizer):
    batch = episode(tokenizer, 2)
    batch.check()
    broken = TokenBatch(
        **{name: getattr(batch, name) for name in FIELDS[:-3]},
        patches=batch.patches[:-1],
        patch_row_interval=batch.patch_row_interval,
        patch_col_interval=batch.patch_col_interval,
    )
    with pytest.raises(ValueError, match="patches"):
        broken.check()
    batch.valid[0, 3] = False
    with pytest.raises(ValueError, match="prefix"):
        batch.check()


def test_to_torch_keeps_every_field(tokenizer):
    tensors = episode(tokenizer, 2).to_torch()
    assert set(tensors) == set(FIELDS)
    assert tensors["patches"].shape == (4, 3, 16, 16)
