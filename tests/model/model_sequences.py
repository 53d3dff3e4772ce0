"""Token sequences and tiny models for the model tests (plain numpy, no tokenizer).

A sequence is a one-row TokenBatch of whole timesteps: image patches, value tokens, the
separator, then action tokens, with the local positions and flags the tokenizer would give.
"""

from __future__ import annotations

import numpy as np
import torch

from gato_eval.model.config import get_preset
from gato_eval.model.transformer import GatoModel
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, PATCH_SIZE, TokenBatch
from gato_eval.tokenizer.layout import TokenLayout

TEST_LAYOUT = TokenLayout.for_text_vocab(64, name="test-text64")


def make_model(layers: int = 2, seed: int = 0, **overrides) -> GatoModel:
    """A tiny eval-mode float32 model (width 32) on the test layout."""
    torch.manual_seed(seed)
    shape = dict(width=32, num_heads=2, kv_size=16, ffn_size=64, dropout=0.0)
    shape.update(patch_channels=4, patch_groups=2, layout=TEST_LAYOUT)
    config = get_preset("gato-tiny", num_layers=layers, **{**shape, **overrides})
    return GatoModel(config).eval()


def random_timestep(rng, layout: TokenLayout, action_tokens: int = 2, max_obs: int = 5) -> dict:
    """One timestep's fields (lists), with 0-2 image patches and 1..max_obs value tokens."""
    num_patches = int(rng.integers(0, 3))
    num_values = int(rng.integers(1, max_obs + 1))
    lo_value, hi_value = layout.value_range()
    ids = [0] * num_patches + list(rng.integers(lo_value, hi_value, num_values))
    ids += [layout.separator_id, *rng.integers(lo_value, lo_value + 7, action_tokens)]
    num_obs = num_patches + num_values + 1  # the separator takes the next local position
    length = len(ids)
    row_lo = rng.integers(0, 120, num_patches)
    col_lo = rng.integers(0, 120, num_patches)
    return {
        "token_ids": ids,
        "local_positions": list(range(num_obs)) + [ACTION_LOCAL_POSITION] * action_tokens,
        "is_image": [True] * num_patches + [False] * (length - num_patches),
        "loss_mask": [False] * num_obs + [True] * action_tokens,
        "timestep_start": [True] + [False] * (length - 1),
        "patches": rng.uniform(-0.25, 0.25, (num_patches, 3, PATCH_SIZE, PATCH_SIZE)),
        "patch_row_interval": np.stack([row_lo, row_lo + 8], axis=1).reshape(-1, 2),
        "patch_col_interval": np.stack([col_lo, col_lo + 8], axis=1).reshape(-1, 2),
    }


def random_sequence(rng, layout: TokenLayout, num_timesteps: int, **kwargs) -> TokenBatch:
    """A one-row TokenBatch of `num_timesteps` random whole timesteps."""
    steps = [random_timestep(rng, layout, **kwargs) for _ in range(num_timesteps)]
    keys = [key for key in steps[0] if not key.startswith("patch")]
    flat = {key: [value for step in steps for value in step[key]] for key in keys}
    n = len(flat["token_ids"])
    return TokenBatch(
        token_ids=np.array([flat["token_ids"]], dtype=np.int64),
        local_positions=np.array([flat["local_positions"]], dtype=np.int64),
        is_image=np.array([flat["is_image"]], dtype=bool),
        loss_mask=np.array([flat["loss_mask"]], dtype=bool),
        valid=np.ones((1, n), dtype=bool),
        timestep_start=np.array([flat["timestep_start"]], dtype=bool),
        patches=np.concatenate([s["patches"] for s in steps]).astype(np.float32),
        patch_row_interval=np.concatenate([s["patch_row_interval"] for s in steps]).astype(
            np.int64
        ),
        patch_col_interval=np.concatenate([s["patch_col_interval"] for s in steps]).astype(
            np.int64
        ),
    )


def window(sequence: TokenBatch, start: int, stop: int) -> TokenBatch:
    """Positions [start, stop) of a one-row sequence, with the patches that fall inside."""
    image = sequence.is_image[0]
    first = int(image[:start].sum())
    count = int(image[start:stop].sum())
    cut = slice(first, first + count)
    return TokenBatch(
        token_ids=sequence.token_ids[:, start:stop],
        local_positions=sequence.local_positions[:, start:stop],
        is_image=sequence.is_image[:, start:stop],
        loss_mask=sequence.loss_mask[:, start:stop],
        valid=sequence.valid[:, start:stop],
        timestep_start=sequence.timestep_start[:, start:stop],
        patches=sequence.patches[cut],
        patch_row_interval=sequence.patch_row_interval[cut],
        patch_col_interval=sequence.patch_col_interval[cut],
    )


def stack(rows: list[TokenBatch]) -> TokenBatch:
    """Right-pad one-row batches to a (B, max L) batch; patches concatenated in row order."""
    width = max(r.shape[1] for r in rows)

    def pad(name: str, fill) -> np.ndarray:
        out = np.full((len(rows), width), fill, dtype=getattr(rows[0], name).dtype)
        for i, r in enumerate(rows):
            out[i, : r.shape[1]] = getattr(r, name)[0]
        return out

    return TokenBatch(
        token_ids=pad("token_ids", 0),
        local_positions=pad("local_positions", 0),
        is_image=pad("is_image", False),
        loss_mask=pad("loss_mask", False),
        valid=pad("valid", False),
        timestep_start=pad("timestep_start", False),
        patches=np.concatenate([r.patches for r in rows]),
        patch_row_interval=np.concatenate([r.patch_row_interval for r in rows]),
        patch_col_interval=np.concatenate([r.patch_col_interval for r in rows]),
    )


def timestep_bounds(sequence: TokenBatch) -> list[int]:
    """Start positions of the sequence's timesteps, plus its length at the end."""
    return [*np.flatnonzero(sequence.timestep_start[0]).tolist(), sequence.shape[1]]


def concat(parts: list[TokenBatch]) -> TokenBatch:
    """One-row batches joined along positions."""
    return TokenBatch(
        **{
            name: np.concatenate([getattr(p, name) for p in parts], axis=1)
            for name in ("token_ids", "local_positions", "is_image", "loss_mask", "valid")
        },
        timestep_start=np.concatenate([p.timestep_start for p in parts], axis=1),
        patches=np.concatenate([p.patches for p in parts]),
        patch_row_interval=np.concatenate([p.patch_row_interval for p in parts]),
        patch_col_interval=np.concatenate([p.patch_col_interval for p in parts]),
    )


def action_tokens(ids) -> TokenBatch:
    """A one-row batch of action tokens as the decoder appends them."""
    ids = np.asarray(ids, dtype=np.int64).reshape(1, -1)
    n = ids.shape[1]
    return TokenBatch(
        token_ids=ids,
        local_positions=np.full((1, n), ACTION_LOCAL_POSITION, dtype=np.int64),
        is_image=np.zeros((1, n), dtype=bool),
        loss_mask=np.ones((1, n), dtype=bool),
        valid=np.ones((1, n), dtype=bool),
        timestep_start=np.zeros((1, n), dtype=bool),
        patches=np.zeros((0, 3, PATCH_SIZE, PATCH_SIZE), dtype=np.float32),
        patch_row_interval=np.zeros((0, 2), dtype=np.int64),
        patch_col_interval=np.zeros((0, 2), dtype=np.int64),
    )


def full_logits(model: GatoModel, sequence: TokenBatch) -> torch.Tensor:
    """Reference: a plain forward pass over a one-row sequence -> float32 (L, vocab)."""
    with torch.no_grad():
        return model(sequence.to_torch())[0].float()
