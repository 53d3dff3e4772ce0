"""Gato's input embedding: tokens and image patches into one (B, L, width) sequence.

Paper App. C.2-C.3 (GATO.md section 2):
- text, discrete, continuous, separator and action ids: a lookup table;
- image patches: one pre-activation ResNet v2 block (GroupNorm, GELU) on the 16x16 patch, then a
  linear projection, plus learnable row and column patch position embeddings (128 buckets each);
- every position adds a learnable local observation position (512, plus one position shared by
  all action tokens). There is no global position encoding.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gato_eval.model.config import GatoConfig
from gato_eval.tokenizer.batch import LOCAL_POSITIONS, PATCH_POSITION_BUCKETS, PATCH_SIZE
from gato_eval.tokenizer.images import evaluation_patch_positions, sample_patch_positions


class PatchEncoder(nn.Module):
    """One pre-activation ResNet v2 block per 16x16 patch, then a linear map to the width.

    The block (He et al. 2016, v2 ordering; GroupNorm and GELU instead of BatchNorm and ReLU,
    App. C.2) keeps the patch's shape, so its shortcut is the identity:
    x + conv(gelu(norm(conv(gelu(norm(x)))))), with C hidden channels between the two 3x3
    convolutions. The result (3 x 16 x 16 = 768 values) is projected to the width, as a ViT
    patch embedding would project raw pixels.
    """

    def __init__(self, config: GatoConfig):
        super().__init__()
        c = config.patch_channels
        self.input_norm = nn.GroupNorm(1, 3)
        self.conv_in = nn.Conv2d(3, c, kernel_size=3, padding=1, bias=False)  # a norm follows
        self.mid_norm = nn.GroupNorm(config.patch_groups, c)
        self.conv_out = nn.Conv2d(c, 3, kernel_size=3, padding=1)
        self.project = nn.Linear(3 * PATCH_SIZE * PATCH_SIZE, config.width)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """patches: float (N, 3, 16, 16) -> embeddings (N, width)."""
        h = self.conv_in(F.gelu(self.input_norm(patches)))  # (N, C, 16, 16)
        h = patches + self.conv_out(F.gelu(self.mid_norm(h)))  # (N, 3, 16, 16)
        return self.project(h.flatten(1))  # (N, 768) -> (N, width)


class GatoEmbedding(nn.Module):
    """TokenBatch tensors -> input embeddings (B, L, width)."""

    def __init__(self, config: GatoConfig):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.width)
        self.local_position = nn.Embedding(LOCAL_POSITIONS + 1, config.width)
        self.patch = PatchEncoder(config)
        self.patch_row = nn.Embedding(PATCH_POSITION_BUCKETS, config.width)
        self.patch_col = nn.Embedding(PATCH_POSITION_BUCKETS, config.width)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, batch: Mapping[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """batch: the dict of `TokenBatch.to_torch()` (token_ids (B, L), local_positions (B, L),
        is_image (B, L), patches (N, 3, 16, 16), patch_row/col_interval (N, 2)).

        Returns float (B, L, width). Patch positions are sampled in training mode and the rounded
        mean in eval mode; `generator` seeds the sampling.
        """
        token_ids, is_image = batch["token_ids"], batch["is_image"]
        x = self.token(token_ids)  # (B, L, width)
        num_patches = int(batch["patches"].shape[0])
        if num_patches != int(is_image.sum()):
            raise ValueError(
                f"TokenBatch has {num_patches} patches but {int(is_image.sum())} image positions"
            )
        if num_patches:
            # Training samples a bucket inside each interval, evaluation takes its mean (App. C.3).
            if self.training:
                rows = sample_patch_positions(batch["patch_row_interval"], generator)  # (N,)
                cols = sample_patch_positions(batch["patch_col_interval"], generator)  # (N,)
            else:
                rows = evaluation_patch_positions(batch["patch_row_interval"])  # (N,)
                cols = evaluation_patch_positions(batch["patch_col_interval"])  # (N,)
            patches = batch["patches"].to(x.dtype)
            patch_x = self.patch(patches) + self.patch_row(rows) + self.patch_col(cols)  # (N, w)
            # Patches fill the image positions in row-major (B, L) order, as TokenBatch stores them.
            x = x.masked_scatter(is_image.unsqueeze(-1), patch_x.to(x.dtype))  # (B, L, width)
        x = x + self.local_position(batch["local_positions"])  # (B, L, width)
        return self.dropout(x)
