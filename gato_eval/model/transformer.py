"""`GatoModel`: a pre-norm decoder-only transformer over Gato embeddings, nanoGPT-shaped.

No global position encoding (GATO.md section 2): order enters only through the causal mask and
the local observation positions, so a key/value cache stays valid when old timesteps are dropped
(for one layer exactly; see gato_eval.model.decoding for deeper models). The LM head is tied to
the token embedding table. `config.position_bias == "alibi"` adds a recency bias to attention
(gato_eval.model.alibi, a documented deviation); it depends on distance only, so the cache
stays valid with it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from gato_eval.model.alibi import alibi_slopes, causal_alibi_bias
from gato_eval.model.config import GatoConfig
from gato_eval.model.embedding import GatoEmbedding


class LayerCache(Protocol):
    """What attention needs from a key/value cache (gato_eval.model.decoding implements it).

    `is_causal`: the new tokens fill empty caches, so plain causal attention applies (no mask).
    """

    is_causal: bool

    def extend(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Store new keys/values (B, H, T, kv) of `layer`; return every visible key and value
        (B, H, S, kv) and the boolean attention mask (B, 1, T, S), or None when all are visible."""

    def alibi_bias(self, slopes: list[float]) -> torch.Tensor:
        """The float attention mask (B or 1, H, T, S) of this call: -slope_h * (query - key
        logical distance) where the boolean mask allows, -inf elsewhere."""


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GatoConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.num_heads, self.kv_size = config.num_heads, config.kv_size
        self.qkv = nn.Linear(config.width, 3 * config.attention_size)
        self.proj = nn.Linear(config.attention_size, config.width)
        self.dropout = config.dropout
        self.slopes = alibi_slopes(self.num_heads) if config.position_bias == "alibi" else None
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        """x: (B, T, width) -> (B, T, width); with `cache`, T new tokens attend to the cache too."""
        B, T, _ = x.shape
        H, K = self.num_heads, self.kv_size
        q, k, v = self.qkv(x).split(H * K, dim=2)  # 3 x (B, T, H*K)
        q = q.view(B, T, H, K).transpose(1, 2)  # (B, H, T, K)
        k = k.view(B, T, H, K).transpose(1, 2)  # (B, H, T, K)
        v = v.view(B, T, H, K).transpose(1, 2)  # (B, H, T, K)
        if cache is None:
            dropout = self.dropout if self.training else 0.0
            if self.slopes is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
            else:  # the causal mask is folded into the bias (-inf above the diagonal)
                bias = causal_alibi_bias(H, T, q.device, q.dtype)  # (1, H, T, T)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
        else:
            k, v, mask = cache.extend(self.layer, k, v)  # (B, H, S, K), mask (B, 1, T, S)
            k, v = k.to(q.dtype), v.to(q.dtype)  # a bf16 cache under fp32 queries, say
            if self.slopes is None:
                y = F.scaled_dot_product_attention(
                    q, k, v, attn_mask=mask, is_causal=cache.is_causal
                )
            else:
                bias = cache.alibi_bias(self.slopes).to(q.dtype)  # (B or 1, H, T, S)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        y = y.transpose(1, 2).reshape(B, T, H * K)  # (B, T, H*K)
        return self.resid_dropout(self.proj(y))


class FeedForward(nn.Module):
    def __init__(self, config: GatoConfig):
        super().__init__()
        self.fc_in = nn.Linear(config.width, config.ffn_size)
        self.fc_out = nn.Linear(config.ffn_size, config.width)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc_out(F.gelu(self.fc_in(x))))  # (B, T, width)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + ffn(ln(x))."""

    def __init__(self, config: GatoConfig, layer: int):
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.width)
        self.attn = CausalSelfAttention(config, layer)
        self.ffn_norm = nn.LayerNorm(config.width)
        self.ffn = FeedForward(config)

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cache)  # (B, T, width)
        return x + self.ffn(self.ffn_norm(x))  # (B, T, width)


class GatoModel(nn.Module):
    """Embedding -> blocks -> final LayerNorm -> tied LM head over `config.vocab_size` ids.

    `forward(batch)` is the full (training / reference) pass; `embed`, `transform` and
    `logits` are its three stages, which the KV-cache decoder calls separately.
    """

    def __init__(self, config: GatoConfig):
        super().__init__()
        self.config = config
        self.embedding = GatoEmbedding(config)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.num_layers))
        self.final_norm = nn.LayerNorm(config.width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers)."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for proj in (block.attn.proj, block.ffn.fc_out):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * self.config.num_layers))

    def embed(
        self, batch: Mapping[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """TokenBatch tensors -> input embeddings (B, L, width)."""
        return self.embedding(batch, generator)

    def transform(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        """Input embeddings (B, T, width) -> final-normed hidden states (B, T, width)."""
        for block in self.blocks:
            x = block(x, cache)
        return self.final_norm(x)

    def logits(self, hidden: torch.Tensor, id_range: tuple[int, int] | None = None) -> torch.Tensor:
        """Hidden states (..., width) -> logits (..., vocab_size) with the tied token table.

        With `id_range` = (lo, hi), only the logits of ids [lo, hi): (..., hi - lo). Decoding an
        action token needs 1024 of 33025 rows of the head, so this skips 97% of its work.
        """
        table = self.embedding.token.weight  # (vocab_size, width)
        if id_range is not None:
            table = table[id_range[0] : id_range[1]]  # (hi - lo, width)
        return F.linear(hidden, table)

    def forward(
        self, batch: Mapping[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """batch: `TokenBatch.to_torch()` dict, right-padded -> logits (B, L, vocab_size).

        The causal mask alone suffices: padding is only at the end of a row, so no valid
        position ever attends to it.
        """
        return self.logits(self.transform(self.embed(batch, generator)))
