"""The full forward pass: embeddings (patches, positions), loss masking, and learning."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from model_sequences import TEST_LAYOUT, make_model, random_sequence, stack

from gato_eval.model.loss import gato_loss


def test_forward_shapes_and_padding_does_not_change_valid_positions():
    rng = np.random.default_rng(0)
    model = make_model(layers=2)
    short, long = random_sequence(rng, TEST_LAYOUT, 1), random_sequence(rng, TEST_LAYOUT, 3)
    with torch.no_grad():
        batched = model(stack([short, long]).to_torch())
        alone = model(short.to_torch())
    assert batched.shape == (2, long.shape[1], TEST_LAYOUT.vocab_size)
    assert torch.allclose(batched[0, : short.shape[1]], alone[0], atol=1e-5)


def test_eval_embedding_uses_the_rounded_mean_patch_position():
    rng = np.random.default_rng(1)
    model = make_model(layers=1)
    seq = random_sequence(rng, TEST_LAYOUT, 2)
    while not seq.is_image.any():
        seq = random_sequence(rng, TEST_LAYOUT, 2)
    tensors = seq.to_torch()
    emb = model.embedding
    with torch.no_grad():
        x = model.embed(tensors)[0]  # (L, width)
        rows = (tensors["patch_row_interval"].sum(1)) // 2
        cols = (tensors["patch_col_interval"].sum(1)) // 2
        expected = emb.patch(tensors["patches"]) + emb.patch_row(rows) + emb.patch_col(cols)
        image_positions = torch.from_numpy(np.flatnonzero(seq.is_image[0]))
        expected += emb.local_position(tensors["local_positions"][0, image_positions])
        assert torch.allclose(x[image_positions], expected, atol=1e-6)
        text = torch.from_numpy(np.flatnonzero(~seq.is_image[0]))
        tokens = emb.token(tensors["token_ids"][0, text])
        local = emb.local_position(tensors["local_positions"][0, text])
        assert torch.allclose(x[text], tokens + local, atol=1e-6)


def test_training_samples_patch_positions_inside_the_interval():
    rng = np.random.default_rng(2)
    model = make_model(layers=1)
    seq = random_sequence(rng, TEST_LAYOUT, 6)
    tensors = seq.to_torch()
    model.train()
    with torch.no_grad():
        a = model.embed(tensors, torch.Generator().manual_seed(0))
        b = model.embed(tensors, torch.Generator().manual_seed(0))
        c = model.embed(tensors, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)  # the augmentation is live in training
    model.eval()


def test_loss_counts_only_text_and_action_targets():
    rng = np.random.default_rng(3)
    model = make_model(layers=1)
    batch = stack([random_sequence(rng, TEST_LAYOUT, 3), random_sequence(rng, TEST_LAYOUT, 2)])
    batch.loss_mask[batch.is_image] = True  # an image target must never count, even if marked
    tensors = batch.to_torch()
    logits = model(tensors)
    loss = gato_loss(logits, tensors)
    counted = batch.loss_mask & batch.valid & ~batch.is_image
    b, t = np.nonzero(counted[:, 1:])
    expected = F.cross_entropy(logits[b, t], tensors["token_ids"][b, t + 1])
    assert torch.allclose(loss, expected)
    assert len(b) == int((batch.loss_mask & ~batch.is_image)[:, 1:].sum())
    loss.backward()
    assert model.embedding.token.weight.grad is not None


def test_loss_without_targets_is_zero_and_differentiable():
    rng = np.random.default_rng(4)
    model = make_model(layers=1)
    batch = random_sequence(rng, TEST_LAYOUT, 2)
    batch.loss_mask[:] = False
    tensors = batch.to_torch()
    loss = gato_loss(model(tensors), tensors)
    assert loss.item() == 0.0
    loss.backward()


def test_a_tiny_model_learns_to_copy_actions():
    # Real learning, not a smoke test: the action token is the first observation value, so the
    # loss can fall far below chance (log 7 ~ 1.95) only by using the observation.
    rng = np.random.default_rng(5)
    torch.manual_seed(0)
    model = make_model(layers=2).train()
    lo = TEST_LAYOUT.value_offset
    rows = []
    for _ in range(16):
        seq = random_sequence(rng, TEST_LAYOUT, 4, action_tokens=1)
        for start in np.flatnonzero(seq.timestep_start[0]):
            first_value = start + int(seq.is_image[0, start:].argmin())
            value = int(rng.integers(0, 7))
            seq.token_ids[0, first_value] = lo + value
            end = start + int(np.argmax(seq.token_ids[0, start:] == TEST_LAYOUT.separator_id))
            seq.token_ids[0, end + 1] = lo + value
        rows.append(seq)
    tensors = stack(rows).to_torch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = gato_loss(model(tensors), tensors)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 5.0 and losses[-1] < 1.0  # chance among the 7 actions: 1.95
