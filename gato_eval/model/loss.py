"""Gato's training loss: next-token cross-entropy on text and action targets only (Sec. 2.3).

`gato_loss` scores full logits (B, L, V). `gato_target_loss` is the same number computed the way
training should: the LM head runs only at the positions just before a counted target. A control
timestep has one or a few action targets among its observation tokens (1 in 7 positions on
cartpole, fewer on images), so projecting every position onto the whole vocabulary, forward and
backward, was a sixth of a gato-tiny step spent on logits nothing reads.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


def counted_targets(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(counted, targets): bool (B, L-1), True where position t+1 is a target position t
    predicts (loss_mask and valid, not an image patch); int64 (B, L-1) the ids at t+1."""
    targets = batch["token_ids"][:, 1:]  # (B, L-1)
    counted = batch["loss_mask"][:, 1:] & batch["valid"][:, 1:] & ~batch["is_image"][:, 1:]
    return counted, targets


def gato_loss(logits: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of predicting position t+1 from position t, over counted targets.

    logits: float (B, L, V) from `GatoModel.forward(batch)`; batch: `TokenBatch.to_torch()`.
    A target counts where loss_mask and valid are True and it is not an image patch (patches
    are never predicted). Returns a scalar; 0 (still differentiable) when nothing counts.
    """
    counted, targets = counted_targets(batch)
    if not bool(counted.any()):
        return logits.sum() * 0.0
    predicted = logits[:, :-1][counted]  # (M, V): the positions just before counted targets
    return F.cross_entropy(predicted.float(), targets[counted])


def gato_target_loss(
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`gato_loss(model(batch), batch)`, with the LM head applied only where a target counts.

    model: a `GatoModel` (its `embed`, `transform` and `logits` stages). Returns a scalar.
    """
    hidden = model.transform(model.embed(batch, generator))  # (B, L, width)
    counted, targets = counted_targets(batch)
    if not bool(counted.any()):
        return hidden.sum() * 0.0
    predicted = model.logits(hidden[:, :-1][counted])  # (M, V)
    return F.cross_entropy(predicted.float(), targets[counted])


def smoothed_target_loss(
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    ordinal_rows: torch.Tensor,
    sigma_bins: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`gato_target_loss` with Gaussian label smoothing over neighbouring continuous-action bins.

    ordinal_rows: bool (B,), True for rows whose targets are binned continuous actions (a Box
    action space); there each target bin t becomes the distribution N(k; t, sigma_bins)
    normalized over the 1024 value bins k (the "HL-Gauss" target of Imani and White 2018). Other
    rows (discrete actions, text) keep one-hot targets. Why: each bin is its own class with its
    own embedding, so plain cross-entropy tells the model nothing about bin t-1 being almost
    right; a smoothed target teaches neighbouring bins to score alike, which is most of what a
    continuous action's distribution has to learn. The mode is unbiased, so greedy decoding is
    unchanged in kind. sigma_bins <= 0 is plain cross-entropy. Returns a scalar.
    """
    if sigma_bins <= 0 or not bool(ordinal_rows.any()):
        return gato_target_loss(model, batch, generator)
    hidden = model.transform(model.embed(batch, generator))  # (B, L, width)
    counted, targets = counted_targets(batch)
    if not bool(counted.any()):
        return hidden.sum() * 0.0
    log_probs = F.log_softmax(model.logits(hidden[:, :-1][counted]).float(), dim=-1)  # (M, V)
    chosen = targets[counted]  # (M,)
    smooth = ordinal_rows[:, None].expand_as(counted)[counted]  # (M,)
    losses = -log_probs.gather(1, chosen[:, None])[:, 0]  # (M,) one-hot targets
    lo, hi = model.config.layout.value_range()
    bins = torch.arange(lo, hi, device=chosen.device, dtype=torch.float32)  # (1024,)
    centre = chosen[smooth].to(torch.float32)[:, None]  # (S, 1)
    weights = torch.exp(-0.5 * ((bins[None, :] - centre) / sigma_bins) ** 2)  # (S, 1024)
    weights = weights / weights.sum(dim=1, keepdim=True)
    losses[smooth] = -(weights * log_probs[smooth][:, lo:hi]).sum(dim=1)
    return losses.mean()


class SmoothedTargetLoss(nn.Module):
    """`smoothed_target_loss` of `model` as a module: its `forward` is what
    `torch.nn.parallel.DistributedDataParallel` hooks (the loss calls the model's stages, not
    the model's own `forward`). Holds no parameters of its own: `model`'s are its parameters."""

    def __init__(self, model: nn.Module, sigma_bins: float):
        super().__init__()
        self.model = model
        self.sigma_bins = sigma_bins

    def forward(
        self, batch: Mapping[str, torch.Tensor], ordinal_rows: torch.Tensor
    ) -> torch.Tensor:
        """Scalar loss of `batch`; ordinal_rows: bool (B,) (see `smoothed_target_loss`)."""
        return smoothed_target_loss(self.model, batch, ordinal_rows, self.sigma_bins)
