"""The optimizer side of training: AdamW groups, warmup + cosine schedule, pickle-free state.

Paper App. C.4 (GATO.md section 2): AdamW, betas (0.9, 0.95), weight decay 0.1, gradient norm
clipped at 1.0, learning rate warmed up linearly and then cosine-decayed by a factor of 10. Weight
decay applies to matrices and convolution kernels only (biases, norms and embedding tables are
not decayed, as in nanoGPT and most transformer recipes).

Optimizer state is stored without pickle: every tensor in `optimizer.safetensors` under
`<parameter name>.<state key>` (e.g. `blocks.0.attn.qkv.weight.exp_avg`), the hyperparameters
of each group in JSON. Keying by parameter name, not position, makes a state from a model with
other parameter names fail loudly instead of loading into the wrong tensors.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gato_eval.core.errors import GatoEvalError

ADAM_BETAS = (0.9, 0.95)  # App. C.4
WEIGHT_DECAY = 0.1  # App. C.4
FINAL_LR_FRACTION = 0.1  # cosine decay "by a factor of 10" (App. C.4)
_GROUP_KEYS = (
    "lr",
    "betas",
    "eps",
    "weight_decay",
    "amsgrad",
    "maximize",
    "foreach",
    "capturable",
    "differentiable",
    "fused",
    "decoupled_weight_decay",
)


def make_adamw(
    model: nn.Module, lr: float, weight_decay: float = WEIGHT_DECAY, betas=ADAM_BETAS
) -> torch.optim.AdamW:
    """AdamW with two groups: decayed weights (dim >= 2 and not an embedding table), the rest."""
    embedding_weights = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }
    decayed, plain = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.dim() >= 2 and id(param) not in embedding_weights:
            decayed.append(param)
        else:
            plain.append(param)
    groups = [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    # foreach: one multi-tensor update per group rather than a Python loop over parameters.
    return torch.optim.AdamW(groups, lr=lr, betas=betas, foreach=True)


def make_adam(model: nn.Module, lr: float) -> torch.optim.Adam:
    """Plain Adam over every trainable parameter (the fine-tuning recipe of Sec. 5.2)."""
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def learning_rate_at(
    step: int,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    final_fraction: float = FINAL_LR_FRACTION,
) -> float:
    """The learning rate of optimizer step `step` (0-based) of `total_steps`.

    Linear warmup from base_lr / warmup_steps to base_lr over the first `warmup_steps` steps, then
    cosine decay to `final_fraction * base_lr` at the last step.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps - 1)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return base_lr * (final_fraction + (1.0 - final_fraction) * cosine)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_state_tensors(
    model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors for safetensors, JSON-ready metadata) of the optimizer's full state."""
    names = {id(param): name for name, param in model.named_parameters()}
    tensors: dict[str, torch.Tensor] = {}
    groups = []
    for group in optimizer.param_groups:
        hyper = {key: _jsonable(group[key]) for key in _GROUP_KEYS if key in group}
        params = [names[id(p)] for p in group["params"]]
        groups.append({"hyperparameters": hyper, "params": params})
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if not isinstance(value, torch.Tensor):
                    value = torch.tensor(value)
                tensors[f"{names[id(param)]}.{key}"] = value.detach().cpu().contiguous()
    return tensors, {"type": type(optimizer).__name__, "groups": groups}


def restore_optimizer_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    source: Path | str,
) -> None:
    """Load what `optimizer_state_tensors` produced back into `optimizer` (same model shape)."""
    if meta.get("type") != type(optimizer).__name__:
        raise GatoEvalError(
            f"{source}: optimizer state is for {meta.get('type')!r}, not {type(optimizer).__name__}"
        )
    params = dict(model.named_parameters())
    names = {id(param): name for name, param in params.items()}
    groups = meta.get("groups")
    if not isinstance(groups, list) or len(groups) != len(optimizer.param_groups):
        raise GatoEvalError(f"{source}: optimizer state has a different number of groups")
    # load_state_dict numbers parameters by their position across groups, in group order.
    index_of: dict[str, int] = {}
    param_groups = []
    for group, saved in zip(optimizer.param_groups, groups, strict=True):
        group_names = [names[id(p)] for p in group["params"]]
        if sorted(group_names) != sorted(saved.get("params", [])):
            raise GatoEvalError(f"{source}: optimizer state was saved for other parameters")
        first = len(index_of)
        index_of.update({name: first + i for i, name in enumerate(group_names)})
        hyper = dict(saved.get("hyperparameters", {}))
        if "betas" in hyper:
            hyper["betas"] = tuple(hyper["betas"])
        param_groups.append({**hyper, "params": list(range(first, len(index_of)))})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        name, _, field = key.rpartition(".")
        if name not in index_of:
            raise GatoEvalError(f"{source}: optimizer state names unknown parameter {name!r}")
        if field != "step" and value.shape != params[name].shape:
            raise GatoEvalError(
                f"{source}: optimizer state {key} has shape {tuple(value.shape)}, "
                f"the parameter {tuple(params[name].shape)}"
            )
        state.setdefault(index_of[name], {})[field] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value
