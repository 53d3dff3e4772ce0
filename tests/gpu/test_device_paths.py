"""The model's paths on a GPU: KV-cache decoding against a full pass (bf16 autocast, bf16
cache), one training step, checkpoint save and load. Skipped without CUDA, except in the GPU
check's dry run, which runs them on the CPU (see conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gato_eval.model.checkpoint import load_checkpoint, save_checkpoint
from gato_eval.model.config import get_preset
from gato_eval.model.decoding import KVCacheDecoder
from gato_eval.model.device import autocast_for
from gato_eval.model.loss import gato_loss
from gato_eval.model.transformer import GatoModel
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, PATCH_SIZE, TokenBatch, concat_rows
from gato_eval.training.optim import make_adamw

pytestmark = pytest.mark.gpu

OBSERVATION, ACTIONS = 29, 6  # + the separator: bench_decode's 36-token timestep
PERIOD = OBSERVATION + 1 + ACTIONS
# Relative error ||cached - full|| / ||full|| of the logits. bf16 operands land between 1e-3
# and 1e-2 (cache and activations rounded to 8 mantissa bits, summed in another order); the
# CPU dry run is float32 end to end, where only the summation order differs.
TOLERANCE = {"cuda": 3e-2, "cpu": 1e-4}


def timesteps(model: GatoModel, count: int, rows: int = 1, seed: int = 0) -> TokenBatch:
    """(rows, count * 36) random whole timesteps: value tokens, separator, action tokens."""
    layout = model.config.layout
    rng = np.random.default_rng(seed)
    lo, hi = layout.value_range()
    offset = np.arange(count * PERIOD) % PERIOD  # position inside the timestep
    shape = (rows, count * PERIOD)
    ids = rng.integers(lo, hi, shape)
    ids[:, offset == OBSERVATION] = layout.separator_id
    local = np.where(offset <= OBSERVATION, offset, ACTION_LOCAL_POSITION)
    return TokenBatch(
        token_ids=ids.astype(np.int64),
        local_positions=np.broadcast_to(local, shape).astype(np.int64),
        is_image=np.zeros(shape, dtype=bool),
        loss_mask=np.broadcast_to(offset > OBSERVATION, shape).copy(),
        valid=np.ones(shape, dtype=bool),
        timestep_start=np.broadcast_to(offset == 0, shape).copy(),
        patches=np.zeros((0, 3, PATCH_SIZE, PATCH_SIZE), dtype=np.float32),
        patch_row_interval=np.zeros((0, 2), dtype=np.int64),
        patch_col_interval=np.zeros((0, 2), dtype=np.int64),
    )


def cut(batch: TokenBatch, start: int, stop: int) -> TokenBatch:
    """Columns [start, stop) of a batch without images."""
    fields = ("token_ids", "local_positions", "is_image", "loss_mask", "valid", "timestep_start")
    sliced = {name: getattr(batch, name)[:, start:stop] for name in fields}
    keep = ("patches", "patch_row_interval", "patch_col_interval")
    return TokenBatch(**sliced, **{name: getattr(batch, name) for name in keep})


def full_logits(model: GatoModel, batch: TokenBatch, device) -> torch.Tensor:
    """The reference: one forward pass over the whole sequence, the device's precision."""
    with torch.no_grad(), autocast_for(device):
        return model(batch.to_torch(device))[0].float()  # (L, vocab)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(got - want) / torch.linalg.vector_norm(want))


def make_model(preset: str, device, dropout: float = 0.0) -> GatoModel:
    torch.manual_seed(0)
    return GatoModel(get_preset(preset, dropout=dropout)).to(device)


def test_kv_cache_decoding_matches_a_full_pass(device, preset):
    model = make_model(preset, device).eval()
    sequence = timesteps(model, count=6)
    reference = full_logits(model, sequence, device)
    decoder = KVCacheDecoder(model, num_rows=1, context=sequence.shape[1] + PERIOD)
    if device.type == "cuda":
        assert decoder._keys[0].dtype == torch.bfloat16  # the cache the rollout uses there
    tolerance = TOLERANCE[device.type]
    for start in range(0, sequence.shape[1], PERIOD):  # observation, then its action tokens
        for lo, hi in ((start, start + OBSERVATION + 1), (start + OBSERVATION + 1, start + PERIOD)):
            logits = decoder.append([0], cut(sequence, lo, hi))[0]
            assert relative_error(logits, reference[hi - 1]) < tolerance, (lo, hi)
    # Greedy action decoding after a new observation: each token is the argmax of a full pass
    # over everything before it, up to the tolerance (bf16 can swap near-ties).
    extra = timesteps(model, count=1, seed=1)
    decoder.append([0], cut(extra, 0, OBSERVATION + 1))
    lo, hi = model.config.layout.value_range()
    chosen = decoder.decode_action_tokens([0], [(lo, hi)] * ACTIONS)[0]
    context = concat_rows([sequence, cut(extra, 0, OBSERVATION + 1)])
    for k, token in enumerate(chosen):
        logits = full_logits(model, context, device)[-1, lo:hi]
        gap = float(logits.max() - logits[token - lo])
        assert gap <= tolerance * float(logits.abs().max()), (k, gap)
        action = cut(extra, OBSERVATION + 1 + k, OBSERVATION + 2 + k)
        action.token_ids[:, 0] = token
        context = concat_rows([context, action])


def test_one_training_step_lowers_the_loss_on_its_batch(device, preset):
    model = make_model(preset, device).train()
    optimizer = make_adamw(model, lr=3e-4)
    batch = timesteps(model, count=4, rows=2).to_torch(device)

    def loss() -> torch.Tensor:
        with autocast_for(device):
            return gato_loss(model(batch), batch)

    with torch.no_grad():
        before = float(loss())
    weights = model.blocks[0].ffn.fc_in.weight.detach().clone()
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert all(bool(torch.isfinite(g).all()) for g in grads)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    with torch.no_grad():
        after = float(loss())
    assert np.isfinite(before) and after < before
    assert not torch.equal(weights, model.blocks[0].ffn.fc_in.weight)


def test_checkpoint_saved_on_the_device_loads_back_identically(device, preset, tmp_path):
    model = make_model(preset, device).eval()
    save_checkpoint(model, tmp_path / "model", provenance={"test": "gpu"})
    loaded, config, _ = load_checkpoint(tmp_path / "model", device=device)
    assert config == model.config
    assert next(loaded.parameters()).device.type == device.type
    for (name, mine), (_, theirs) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(mine, theirs), name
    batch = timesteps(model, count=2)  # the same weights, kernels free to pick their order
    want, got = full_logits(model, batch, device), full_logits(loaded, batch, device)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5)
