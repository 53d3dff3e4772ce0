"""`TokenBatch`: the flat token sequences the tokenizer emits and the model consumes.

A Gato sequence interleaves token ids and image patches (GATO.md section 1). Each position is
either a token (text, discrete, continuous, separator or action id in the `TokenLayout`) or an
image patch; patches are stored once, densely, in the order of `is_image.nonzero()` (row-major
over (B, L)), so a batch with no images carries no image memory.

Shapes: B rows, L positions per row (right-padded), N patches in the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

PATCH_SIZE = 16  # pixels per patch side (Sec. 2.1)
PATCH_POSITION_BUCKETS = 128  # row/column patch position quantization (App. C.3)
LOCAL_POSITIONS = 512  # learnable local observation positions (App. C.2)
ACTION_LOCAL_POSITION = LOCAL_POSITIONS  # every action token shares this one extra position


@dataclass
class TokenBatch:
    """A right-padded batch of token sequences.

    token_ids:          int64 (B, L)  layout ids; 0 at image positions and padding
    local_positions:    int64 (B, L)  index of the token inside its timestep's observation
                                      (0..511); ACTION_LOCAL_POSITION for action tokens; the
                                      separator takes the position after the last observation token
    is_image:           bool  (B, L)  True where the position is an image patch
    loss_mask:          bool  (B, L)  True where the position is a prediction target (action
                                      tokens; text tokens of text-only data)
    valid:              bool  (B, L)  False on padding
    timestep_start:     bool  (B, L)  True at the first position of each timestep (a prompt or a
                                      context window may be cut only there)
    patches:            float32 (N, 3, 16, 16)  pixels in [-1, 1] divided by 4
    patch_row_interval: int64 (N, 2)  [lo, hi) of the patch's rows in 128 buckets
    patch_col_interval: int64 (N, 2)  [lo, hi) of the patch's columns in 128 buckets
    """

    token_ids: np.ndarray
    local_positions: np.ndarray
    is_image: np.ndarray
    loss_mask: np.ndarray
    valid: np.ndarray
    timestep_start: np.ndarray
    patches: np.ndarray
    patch_row_interval: np.ndarray
    patch_col_interval: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.token_ids.shape

    def to_torch(self, device="cpu") -> dict:
        """The same fields as torch tensors on `device` (a dict keyed by field name)."""
        import torch

        return {f.name: torch.from_numpy(getattr(self, f.name)).to(device) for f in fields(self)}
