"""The held-back evaluation loss of a training run: mean loss per source over fixed batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gato_eval.model.device import autocast_for


def held_back_losses(model, batches, device: torch.device) -> dict[str, float]:
    """Mean loss over every held-back target, overall (`eval_loss`) and per source
    (`eval_loss/<source>`), in eval mode; the model is back in train mode after.

    batches: (TokenBatch, [SequenceInfo] per row) pairs, the same ones at every evaluation.
    """
    totals: dict[str, list[float]] = {}
    model.eval()
    with torch.no_grad():
        for batch, infos in batches:
            tensors = batch.to_torch(device)
            with autocast_for(device):
                logits = model(tensors)  # (B, L, V)
            targets = tensors["token_ids"][:, 1:]
            counted = tensors["loss_mask"][:, 1:] & tensors["valid"][:, 1:]
            counted &= ~tensors["is_image"][:, 1:]
            per_token = F.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), targets, reduction="none"
            )  # (B, L-1)
            for row, info in enumerate(infos):
                mask = counted[row]
                total = totals.setdefault(info.source, [0.0, 0.0])
                total[0] += float(per_token[row][mask].sum())
                total[1] += float(mask.sum())
    model.train()
    result = {f"eval_loss/{name}": loss / count for name, (loss, count) in totals.items() if count}
    all_loss = sum(loss for loss, _ in totals.values())
    all_count = sum(count for _, count in totals.values())
    result["eval_loss"] = all_loss / all_count if all_count else float("nan")
    return result
