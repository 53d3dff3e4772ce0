"""The ALiBi position bias option: slopes, the attention it computes, and configs without it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from model_sequences import TEST_LAYOUT, full_logits, make_model, random_sequence

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import BUNDLED_DIR
from gato_eval.model.alibi import alibi_slopes, causal_alibi_bias
from gato_eval.model.config import GatoConfig, get_preset

PREVIOUS_BUNDLED_CONFIG = Path(__file__).with_name("previous_bundled_model_config.json")


def test_slopes_are_the_alibi_geometric_series():
    assert alibi_slopes(4) == [2**-2, 2**-4, 2**-6, 2**-8]
    assert alibi_slopes(8) == [2.0**-k for k in range(1, 9)]
    # Not a power of two: the series of 4 heads, then every other slope of the series of 8.
    assert alibi_slopes(6) == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]


def test_causal_bias_is_distance_times_slope_and_four_dimensional():
    bias = causal_alibi_bias(2, 5, torch.device("cpu"), torch.float32)
    # (1, H, L, L): CPU SDPA runs its flash kernel only with a 4-D float mask.
    assert bias.shape == (1, 2, 5, 5)
    assert bias[0, 0, 4, 1].item() == -3 * 2**-4 and bias[0, 1, 4, 1].item() == -3 * 2**-8
    assert bias[0, :, 2, 2].eq(0).all() and torch.isinf(bias[0, :, 1, 2]).all()


def _naive_attention(attn, x: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(K) - slope * (i - j)) v with a causal mask, written out."""
    B, T, _ = x.shape
    H, K = attn.num_heads, attn.kv_size
    q, k, v = attn.qkv(x).split(H * K, dim=2)
    q, k, v = (t.view(B, T, H, K).transpose(1, 2) for t in (q, k, v))  # (B, H, T, K)
    scores = q @ k.transpose(-1, -2) / math.sqrt(K)  # (B, H, T, T)
    i = torch.arange(T)
    distance = (i[:, None] - i[None, :]).float()  # (T, T)
    slopes = torch.tensor(alibi_slopes(H)).view(H, 1, 1)
    scores = scores - slopes * distance
    scores = scores.masked_fill(distance < 0, float("-inf"))
    y = scores.softmax(-1) @ v  # (B, H, T, K)
    return attn.proj(y.transpose(1, 2).reshape(B, T, H * K))


def test_attention_with_alibi_equals_the_written_out_formula():
    model = make_model(layers=1, position_bias="alibi", num_heads=4, kv_size=8)
    attn = model.blocks[0].attn
    x = torch.randn(2, 37, model.config.width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(attn(x), _naive_attention(attn, x), atol=1e-5, rtol=0)


def test_the_bias_changes_the_output_and_none_is_the_plain_causal_model():
    rng = np.random.default_rng(0)
    sequence = random_sequence(rng, TEST_LAYOUT, 6)
    plain, biased = make_model(layers=2), make_model(layers=2, position_bias="alibi")
    biased.load_state_dict(plain.state_dict())  # same weights: the bias adds no parameter
    assert plain.blocks[0].attn.slopes is None
    assert not torch.allclose(full_logits(plain, sequence), full_logits(biased, sequence))


def test_configs_record_the_bias_and_old_configs_read_as_none():
    config = get_preset("gato-tiny", position_bias="alibi")
    assert GatoConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    old = get_preset("gato-tiny").to_dict()
    del old["position_bias"]  # written before the field existed
    assert GatoConfig.from_dict(old).position_bias == "none"
    previous = json.loads(PREVIOUS_BUNDLED_CONFIG.read_text())["model"]  # the 2026-11-25 model
    assert "position_bias" not in previous
    assert GatoConfig.from_dict(previous).position_bias == "none"
    bundled = json.loads((BUNDLED_DIR / "model" / "config.json").read_text())["model"]
    assert GatoConfig.from_dict(bundled).position_bias == "alibi"  # trained with #20's recipe
    with pytest.raises(GatoEvalError, match="position_bias must be one of none, alibi"):
        GatoConfig.from_dict({"preset": "gato-tiny", "position_bias": "rope"})
