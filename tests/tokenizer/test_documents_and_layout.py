"""Token layouts (GATO.md section 1) and the non-control sequences: text and captioned images."""

from __future__ import annotations

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, LOCAL_POSITIONS
from gato_eval.tokenizer.documents import encode_image_caption, encode_text
from gato_eval.tokenizer.images import images_to_patches, patch_intervals
from gato_eval.tokenizer.layout import NUM_VALUE_BINS, PAPER_LAYOUT, TokenLayout


def test_package_exports_resolve():
    import gato_eval.tokenizer as tokenizer

    for name in tokenizer.__all__:
        assert getattr(tokenizer, name) is not None
    with pytest.raises(AttributeError):
        _ = tokenizer.no_such_name


def test_paper_layout():
    assert NUM_VALUE_BINS == 1024
    assert PAPER_LAYOUT.text_vocab_size == 32000
    assert PAPER_LAYOUT.value_offset == 32000
    assert PAPER_LAYOUT.separator_id == 33024
    assert PAPER_LAYOUT.vocab_size == 33025
    assert not PAPER_LAYOUT.mu_law_actions
    assert LOCAL_POSITIONS == 512 and ACTION_LOCAL_POSITION == 512


def test_small_layouts_shift_everything_down():
    layout = TokenLayout.for_text_vocab(256)
    assert (layout.value_offset, layout.separator_id, layout.vocab_size) == (256, 1280, 1281)
    assert layout.value_range(18) == (256, 274)
    assert TokenLayout.from_dict(layout.to_dict()) == layout


def test_new_layouts_round_patch_edges_and_old_ones_floor():
    # GATO.md section 2 / App. C.3: new layouts round interval edges to the nearest bucket.
    assert PAPER_LAYOUT.patch_position_rounding == "nearest"
    assert TokenLayout.for_text_vocab(1024).patch_position_rounding == "nearest"
    floor = TokenLayout("old", 1024, patch_position_rounding="floor")
    assert TokenLayout.from_dict(floor.to_dict()) == floor
    # A layout written before the field existed (the bundled model's) was trained with floor.
    written_before = {"mu_law_actions": False, "name": "gato-text1024", "text_vocab_size": 1024}
    read = TokenLayout.from_dict({**written_before, "version": 1})
    assert read == TokenLayout("gato-text1024", 1024, patch_position_rounding="floor")
    with pytest.raises(GatoEvalError, match=r"patch position rounding 'round'.*floor, nearest"):
        TokenLayout("x", 1024, patch_position_rounding="round")
    with pytest.raises(GatoEvalError, match="patch position rounding 'up'"):
        TokenLayout.from_dict({**PAPER_LAYOUT.to_dict(), "patch_position_rounding": "up"})


def test_caption_patches_follow_the_layouts_rule(mission_tokenizer, small_layout):
    from dataclasses import replace

    image = np.zeros((48, 48, 3), dtype=np.uint8)  # edges 0, 42.67, 85.33, 128
    ends = {}
    for rounding in ("floor", "nearest"):
        layout = replace(small_layout, patch_position_rounding=rounding)
        batch = encode_image_caption(image, "a red ball", mission_tokenizer, layout)
        ends[rounding] = batch.patch_col_interval[:3, 1].tolist()
    assert ends == {"floor": [42, 85, 128], "nearest": [43, 85, 128]}


def test_layout_from_a_bad_config():
    with pytest.raises(GatoEvalError, match="version 2 is not supported"):
        TokenLayout.from_dict({**PAPER_LAYOUT.to_dict(), "version": 2})
    with pytest.raises(GatoEvalError, match="unknown fields"):
        TokenLayout.from_dict({**PAPER_LAYOUT.to_dict(), "offset": 3})


def test_text_document(mission_tokenizer, small_layout):
    batch = encode_text("go to the red ball. open the blue door", mission_tokenizer, small_layout)
    batch.check()
    ids = mission_tokenizer.encode("go to the red ball. open the blue door")
    assert batch.token_ids[0].tolist() == ids
    assert batch.loss_mask[0].tolist() == [False] + [True] * (len(ids) - 1)
    assert (batch.local_positions == ACTION_LOCAL_POSITION).all()
    assert batch.timestep_start.all()  # a text window may start anywhere
    assert batch.window(3, 2).token_ids[0].tolist() == ids[3:5]
    with pytest.raises(GatoEvalError, match="empty text"):
        encode_text("", mission_tokenizer, small_layout)
    with pytest.raises(GatoEvalError, match="reserves 32000"):
        encode_text("red", mission_tokenizer, PAPER_LAYOUT)


def test_image_caption(mission_tokenizer, small_layout):
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    batch = encode_image_caption(image, "a red ball", mission_tokenizer, small_layout)
    batch.check()
    caption = mission_tokenizer.encode("a red ball")
    c = len(caption)
    assert batch.token_ids[0].tolist() == [0] * 4 + caption
    assert batch.is_image[0].tolist() == [True] * 4 + [False] * c
    assert batch.loss_mask[0].tolist() == [False] * 4 + [True] * c
    assert batch.local_positions[0].tolist() == [0, 1, 2, 3] + [ACTION_LOCAL_POSITION] * c
    assert batch.timestep_start[0].tolist() == [True] + [False] * (3 + c)
    np.testing.assert_array_equal(batch.patches, images_to_patches(image[None])[0])
    rows, _ = patch_intervals(32, 32, rounding=small_layout.patch_position_rounding)
    np.testing.assert_array_equal(batch.patch_row_interval, rows)
    with pytest.raises(GatoEvalError, match=r"image shape \(30, 32, 3\)"):
        encode_image_caption(image[:30], "a red ball", mission_tokenizer, small_layout)
