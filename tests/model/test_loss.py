"""The training loss computed at target positions only equals the full-logits loss (#20)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_sequences import TEST_LAYOUT, make_model, random_sequence, stack

from gato_eval.model.loss import gato_loss, gato_target_loss, smoothed_target_loss


def _gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_target_loss_equals_the_full_logits_loss_and_its_gradients():
    rng = np.random.default_rng(5)
    model = make_model(layers=2).train()
    batch = stack([random_sequence(rng, TEST_LAYOUT, 4), random_sequence(rng, TEST_LAYOUT, 2)])
    batch.loss_mask[0, :6] = False  # a prompt: conditioning, never a target
    tensors = batch.to_torch()

    full = gato_loss(model(tensors, torch.Generator().manual_seed(2)), tensors)
    full.backward()
    expected = _gradients(model)
    model.zero_grad(set_to_none=True)
    targeted = gato_target_loss(model, tensors, torch.Generator().manual_seed(2))
    targeted.backward()
    got = _gradients(model)

    assert torch.allclose(targeted, full, rtol=0, atol=1e-6)
    assert expected.keys() == got.keys()
    for name, grad in expected.items():
        assert torch.allclose(got[name], grad, rtol=1e-5, atol=1e-7), name


def test_target_loss_without_targets_is_zero_and_differentiable():
    rng = np.random.default_rng(6)
    model = make_model(layers=1)
    batch = random_sequence(rng, TEST_LAYOUT, 2)
    batch.loss_mask[:] = False
    loss = gato_target_loss(model, batch.to_torch())
    assert loss.item() == 0.0
    loss.backward()


def test_smoothed_loss_spreads_continuous_action_targets_over_neighbouring_bins():
    rng = np.random.default_rng(7)
    model = make_model(layers=1)
    batch = stack([random_sequence(rng, TEST_LAYOUT, 3), random_sequence(rng, TEST_LAYOUT, 3)])
    tensors = batch.to_torch()
    ordinal = torch.tensor([True, False])  # row 0: a Box action; row 1: discrete actions
    sigma = 2.5
    loss = smoothed_target_loss(model, tensors, ordinal, sigma)

    # By hand, from the full logits: row 0 against N(k; t, sigma) over the value bins, row 1
    # against its one-hot target, all targets weighted alike.
    log_probs = torch.log_softmax(model(tensors)[:, :-1].detach(), dim=-1)  # (B, L-1, V)
    counted = batch.loss_mask & batch.valid & ~batch.is_image
    lo, hi = TEST_LAYOUT.value_range()
    bins = np.arange(lo, hi)
    terms = []
    for b, t in zip(*np.nonzero(counted[:, 1:]), strict=True):
        target = int(batch.token_ids[b, t + 1])
        if b == 0:
            weights = np.exp(-0.5 * ((bins - target) / sigma) ** 2)
            weights /= weights.sum()
            terms.append(-(weights * log_probs[b, t, lo:hi].numpy()).sum())
        else:
            terms.append(-float(log_probs[b, t, target]))
    assert float(loss) == pytest.approx(np.mean(terms), rel=1e-5)
    loss.backward()

    # sigma 0, or no ordinal row, is the plain target loss.
    plain = gato_target_loss(model, tensors)
    assert torch.equal(smoothed_target_loss(model, tensors, ordinal, 0.0), plain)
    assert torch.equal(
        smoothed_target_loss(model, tensors, torch.zeros_like(ordinal), sigma), plain
    )
