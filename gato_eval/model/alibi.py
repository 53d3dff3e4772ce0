"""ALiBi (Press et al. 2022): a per-head linear penalty on attention scores by query-key distance.

Head h adds -slope_h * (query position - key position) to every score, so nearer keys win ties:
a recency cue. Gato has none (GATO.md section 2): its separator sees many copies of "local
position k" observation tokens in a long window and cannot tell which is the current timestep's
(results/training_experiments.md, E5). This option is a documented deviation from the paper,
off by default (`GatoConfig.position_bias`).

The bias depends on distance only, never on absolute position, so a key/value cache that drops
its oldest tokens stays valid: the sliding windows of gato_eval.model.decoding keep their
exactness properties unchanged (gato_eval.model.cache_step builds the cached calls' bias).
"""

from __future__ import annotations

import functools
import math

import torch


def alibi_slopes(num_heads: int) -> list[float]:
    """The ALiBi head slopes: the geometric series 2^(-8/n), 2^(-16/n), ... for n heads.

    For a head count that is not a power of two, the paper's rule: the series of the power of two
    below, then every other slope of the series of the power of two above.
    """

    def series(n: int) -> list[float]:
        ratio = 2.0 ** (-8.0 / n)
        return [ratio ** (i + 1) for i in range(n)]

    if num_heads & (num_heads - 1) == 0:
        return series(num_heads)
    lower = 2 ** math.floor(math.log2(num_heads))
    return series(lower) + series(2 * lower)[0::2][: num_heads - lower]


def distance_bias(slopes: list[float], distance: torch.Tensor, visible: torch.Tensor):
    """distance (..., T, S) float, visible (..., T, S) bool -> bias (..., H, T, S) float32:
    -slope_h * distance where visible, -inf elsewhere (the causal mask folded in)."""
    slope = torch.tensor(slopes, dtype=torch.float32, device=distance.device)  # (H,)
    bias = -slope.view(-1, 1, 1) * distance.unsqueeze(-3).float()  # (..., H, T, S)
    return bias.masked_fill(~visible.unsqueeze(-3), float("-inf"))


@functools.lru_cache(maxsize=8)
def causal_alibi_bias(
    num_heads: int, length: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """The (1, H, L, L) additive attention mask of a full causal pass: -slope_h * (i - j) for
    j <= i, -inf for j > i. Cached per shape: a training step's layers and steps all reuse one
    tensor instead of rebuilding L^2 * H floats per layer (it is never written to, so sharing is
    safe). 4-D on purpose: CPU SDPA's flash kernel takes a float mask only as (B or 1, H or 1,
    L, L); an (H, L, L) mask falls back to the unfused kernel, 2.2x the attention's cost.
    """
    position = torch.arange(length, device=device)
    distance = position[:, None] - position[None, :]  # (L, L), i - j
    bias = distance_bias(alibi_slopes(num_heads), distance, distance >= 0)
    return bias.to(dtype).unsqueeze(0)  # (1, H, L, L)
