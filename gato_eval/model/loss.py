"""Gato's training loss: next-token cross-entropy on text and action targets only (Sec. 2.3)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def gato_loss(logits: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of predicting position t+1 from position t, over counted targets.

    logits: float (B, L, V) from `GatoModel.forward(batch)`; batch: `TokenBatch.to_torch()`.
    A target counts where loss_mask and valid are True and it is not an image patch (patches
    are never predicted). Returns a scalar; 0 (still differentiable) when nothing counts.
    """
    targets = batch["token_ids"][:, 1:]  # (B, L-1)
    counted = batch["loss_mask"][:, 1:] & batch["valid"][:, 1:] & ~batch["is_image"][:, 1:]
    if not bool(counted.any()):
        return logits.sum() * 0.0
    predicted = logits[:, :-1][counted]  # (M, V): the positions just before counted targets
    return F.cross_entropy(predicted.float(), targets[counted])
