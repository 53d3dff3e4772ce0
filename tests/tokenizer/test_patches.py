"""Image patches and patch positions, pinned to GATO.md sections 1-2 (paper Sec. 2.1, App. C.3)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.batch import PATCH_POSITION_BUCKETS, PATCH_SIZE
from gato_eval.tokenizer.images import (
    PIXEL_SCALE,
    check_image_shape,
    count_patches,
    evaluation_patch_positions,
    images_to_patches,
    patch_intervals,
    quantize_patch_edges,
    sample_patch_positions,
)


def test_constants_are_the_papers():
    assert PATCH_SIZE == 16
    assert PIXEL_SCALE == 4.0  # sqrt(16)
    assert PATCH_POSITION_BUCKETS == 128


def test_patches_are_in_raster_order_channels_first():
    # An 80x64 Atari-size frame: 5 rows x 4 columns of patches, each filled with its own index.
    image = np.zeros((80, 64, 3), dtype=np.uint8)
    for r in range(5):
        for c in range(4):
            image[16 * r : 16 * (r + 1), 16 * c : 16 * (c + 1)] = (r * 4 + c, 100, 200)
    image[3, 5] = (7, 8, 9)  # one marked pixel inside patch 0
    patches = images_to_patches(image[None])
    assert patches.shape == (1, 20, 3, 16, 16) and patches.dtype == np.float32
    expected_index = (np.arange(20) / 127.5 - 1) / 4
    np.testing.assert_allclose(patches[0, 1:, 0, 0, 0], expected_index[1:], rtol=1e-6)
    np.testing.assert_allclose(patches[0, :, 1, 8, 8], (100 / 127.5 - 1) / 4, rtol=1e-6)
    np.testing.assert_allclose(patches[0, 0, :, 3, 5], (np.array([7, 8, 9]) / 127.5 - 1) / 4)


def test_pixel_range_is_quarter_of_unit_interval():
    image = np.array([0, 255], dtype=np.uint8).repeat(16 * 8 * 3).reshape(1, 16, 16, 3)
    patches = images_to_patches(image)
    assert patches.min() == -0.25 and patches.max() == 0.25


def test_patches_of_a_batch_match_one_by_one():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    batched = images_to_patches(images)
    for b in range(3):
        np.testing.assert_array_equal(batched[b], images_to_patches(images[b : b + 1])[0])
    assert count_patches(32, 48) == 6


def test_the_papers_example_rounds_interval_edges_to_the_nearest_bucket():
    # App. C.3: a 64 x 80 (rows x columns) image; the patch of pixel rows [16, 32) and columns
    # [32, 48) has normalized intervals [0.25, 0.5] and [0.4, 0.6] -> rows [32, 64] and
    # columns [51, 77] (0.6 * 128 = 76.8 rounds up; flooring would give 76).
    rows, cols = patch_intervals(64, 80, rounding="nearest")
    patch = 1 * 5 + 2  # patch row 1, patch column 2 of 5
    assert rows[patch].tolist() == [32, 64] and cols[patch].tolist() == [51, 77]
    rows, cols = patch_intervals(64, 80, rounding="floor")  # the rule of older checkpoints
    assert rows[patch].tolist() == [32, 64] and cols[patch].tolist() == [51, 76]


def test_nearest_rounds_halves_up_not_to_even():
    # Python's round() is banker's rounding (round(0.5) == 0, round(2.5) == 2); the rule is
    # floor(x * 128 + 1/2), so every half goes up.
    edges = np.array([1, 5, 3])  # pixel edges on a side of 256: x * 128 = 0.5, 2.5, 1.5
    assert quantize_patch_edges(edges, 256, "nearest").tolist() == [1, 3, 2]
    assert quantize_patch_edges(edges, 256, "floor").tolist() == [0, 2, 1]
    with pytest.raises(GatoEvalError, match="unknown patch position rounding 'round'"):
        quantize_patch_edges(edges, 256, "round")


@pytest.mark.parametrize(
    "rounding, row_edges",
    [
        # [0, 16) / 80 * 128 = [0, 25.6): floor gives 25, nearest 26; 48 * 128 / 80 = 76.8.
        ("floor", [0, 25, 51, 76, 102, 128]),
        ("nearest", [0, 26, 51, 77, 102, 128]),
    ],
)
def test_intervals_of_an_atari_frame_by_hand(rounding, row_edges):
    rows, cols = patch_intervals(80, 64, rounding=rounding)
    col_edges = [0, 32, 64, 96, 128]
    assert rows.shape == cols.shape == (20, 2) and rows.dtype == np.int64
    for p in range(20):
        r, c = divmod(p, 4)
        assert rows[p].tolist() == [row_edges[r], row_edges[r + 1]]
        assert cols[p].tolist() == [col_edges[c], col_edges[c + 1]]


@settings(deadline=None)
@given(st.integers(1, 128), st.integers(1, 128), st.sampled_from(["floor", "nearest"]))
def test_intervals_partition_all_buckets(h_patches, w_patches, rounding):
    rows, cols = patch_intervals(16 * h_patches, 16 * w_patches, rounding=rounding)
    first_column = rows[::w_patches]  # one interval per patch row
    assert first_column[0, 0] == 0 and first_column[-1, 1] == 128
    assert np.all(first_column[1:, 0] == first_column[:-1, 1])  # contiguous
    assert np.all(rows[:, 1] > rows[:, 0]) and np.all(cols[:, 1] > cols[:, 0])  # never empty
    assert cols[:w_patches, 0][0] == 0 and cols[w_patches - 1, 1] == 128
    exact = np.arange(0, 16 * h_patches + 1, 16) * 128 / (16 * h_patches)
    edges = np.append(first_column[:, 0], 128)
    if rounding == "nearest":  # each edge is the bucket nearest to the exact one
        assert np.all(np.abs(edges - exact) <= 0.5)
    else:
        assert np.all((edges <= exact) & (exact < edges + 1))


def test_timestep_tokens_follow_the_layouts_rule():
    from gymnasium import spaces

    from gato_eval.tokenizer.layout import TokenLayout
    from gato_eval.tokenizer.timestep import TimestepTokenizer

    space = spaces.Dict({"image": spaces.Box(0, 255, (80, 64, 3), np.uint8)})
    frames = {"image": np.zeros((2, 80, 64, 3), dtype=np.uint8)}
    first_rows = {}
    for rounding in ("floor", "nearest"):
        layout = TokenLayout("t", 64, patch_position_rounding=rounding)
        batch = TimestepTokenizer(space, spaces.Discrete(3), layout).encode_episode(
            frames, np.array([0, 1])
        )
        first_rows[rounding] = batch.patch_row_interval[:20:4, 1].tolist()  # (5,) row ends
    assert first_rows == {"floor": [25, 51, 76, 102, 128], "nearest": [26, 51, 77, 102, 128]}


def test_evaluation_rule_is_rounded_mean_inside_interval():
    intervals = np.array([[0, 25], [25, 51], [102, 128], [7, 8], [0, 128]])
    assert evaluation_patch_positions(intervals).tolist() == [12, 38, 115, 7, 64]
    as_tensor = evaluation_patch_positions(torch.from_numpy(intervals))
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.tolist() == [12, 38, 115, 7, 64]


def test_training_rule_samples_uniformly_inside_interval_numpy():
    intervals = np.tile(np.array([[25, 51]]), (26000, 1))
    drawn = sample_patch_positions(intervals, np.random.default_rng(0))
    assert drawn.dtype == np.int64 and drawn.min() == 25 and drawn.max() == 50
    counts = np.bincount(drawn - 25, minlength=26)
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected per bucket


def test_training_rule_samples_uniformly_inside_interval_torch():
    intervals = torch.tensor([[25, 51]]).repeat(26000, 1)
    drawn = sample_patch_positions(intervals, torch.Generator().manual_seed(0))
    assert drawn.dtype == torch.int64 and int(drawn.min()) == 25 and int(drawn.max()) == 50
    counts = torch.bincount(drawn - 25, minlength=26)
    assert int(counts.min()) > 850 and int(counts.max()) < 1150
    single = sample_patch_positions(torch.tensor([[7, 8]]))
    assert single.tolist() == [7]


@pytest.mark.parametrize(
    "shape", [(80, 64), (80, 60, 3), (84, 64, 3), (64, 64, 4), (0, 16, 3), (4096, 16, 3)]
)
def test_bad_image_shapes_name_key_and_shape(shape):
    with pytest.raises(GatoEvalError, match=r"observation 'image'.*" + re.escape(str(shape))):
        check_image_shape("image", shape)
