"""KV-cache decoding equals full forward passes: ragged rows, action sampling, sliding windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_sequences import (
    TEST_LAYOUT,
    action_tokens,
    concat,
    full_logits,
    make_model,
    random_sequence,
    stack,
    timestep_bounds,
    window,
)

from gato_eval.core.errors import GatoEvalError
from gato_eval.model.decoding import KVCacheDecoder

# Every exactness property holds with the ALiBi recency bias too: it depends only on distance.
BIASES = pytest.mark.parametrize("bias", ["none", "alibi"])
TOL = 1e-4  # fp32 (the acceptance tolerance); observed differences are ~1e-7
ACTION_RANGE = TEST_LAYOUT.value_range(7)  # the test sequences' actions use 7 values


def observation(sequence, t: int):
    """Timestep t's observation tokens and separator (its 2 action tokens left out)."""
    bounds = timestep_bounds(sequence)
    return window(sequence, bounds[t], bounds[t + 1] - 2)


@BIASES
def test_ragged_appends_in_any_row_order_match_full_forward(bias):
    rng = np.random.default_rng(0)
    model = make_model(layers=2, position_bias=bias)
    seqs = [random_sequence(rng, TEST_LAYOUT, 5) for _ in range(3)]
    refs = [full_logits(model, s) for s in seqs]
    decoder = KVCacheDecoder(model, num_rows=3, context=128)
    # Cut each row at different, arbitrary points (inside timesteps too), append out of order.
    cuts = [[0, 3, 20, s.shape[1]] for s in seqs]
    cuts[1] = [0, 9, 10, seqs[1].shape[1]]
    orders = [[0, 1, 2], [2, 0, 1], [1, 2, 0]]
    for piece, order in enumerate(orders):
        parts = [window(seqs[r], cuts[r][piece], cuts[r][piece + 1]) for r in order]
        logits = decoder.append(order, stack(parts))
        for i, r in enumerate(order):
            last = cuts[r][piece + 1] - 1
            assert torch.allclose(logits[i], refs[r][last], atol=TOL, rtol=0)
    assert decoder.lengths.tolist() == [s.shape[1] for s in seqs]


def test_rows_not_named_are_untouched():
    rng = np.random.default_rng(1)
    model = make_model(layers=2)
    seqs = [random_sequence(rng, TEST_LAYOUT, 3) for _ in range(2)]
    decoder = KVCacheDecoder(model, num_rows=2, context=64)
    decoder.append([0, 1], stack([window(s, 0, 10) for s in seqs]))
    before = [k[1].clone() for k in decoder._keys]
    decoder.append([0], window(seqs[0], 10, seqs[0].shape[1]))
    assert decoder.lengths.tolist() == [seqs[0].shape[1], 10]
    assert all(torch.equal(k[1], b) for k, b in zip(decoder._keys, before, strict=True))
    logits = decoder.append([1], window(seqs[1], 10, seqs[1].shape[1]))
    assert torch.allclose(logits[0], full_logits(model, seqs[1])[-1], atol=TOL, rtol=0)


@BIASES
def test_greedy_action_decoding_matches_full_forward_step_by_step(bias):
    rng = np.random.default_rng(2)
    model = make_model(layers=3, position_bias=bias)
    seqs = [random_sequence(rng, TEST_LAYOUT, 4) for _ in range(2)]
    observations = [observation(s, 0) for s in seqs]
    decoder = KVCacheDecoder(model, num_rows=2, context=128)
    decoder.append([0, 1], stack(observations))
    ranges = [(ACTION_RANGE[0] + 10, ACTION_RANGE[0] + 40), (3, 60), ACTION_RANGE]
    ids = decoder.decode_action_tokens([0, 1], ranges, temperature=0.0)
    assert ids.shape == (2, 3)
    for row in range(2):
        history = observations[row]
        for k, (lo, hi) in enumerate(ranges):
            expected = lo + int(full_logits(model, history)[-1, lo:hi].argmax())
            assert ids[row, k] == expected
            history = concat([history, action_tokens([ids[row, k]])])
        # The next observation continues after the decoded actions, still exact.
        rest = window(seqs[row], timestep_bounds(seqs[row])[1], seqs[row].shape[1])
        logits = decoder.append([row], rest)
        assert torch.allclose(
            logits[0], full_logits(model, concat([history, rest]))[-1], atol=TOL, rtol=0
        )


def test_masked_sampling_never_leaves_the_range():
    rng = np.random.default_rng(3)
    model = make_model(layers=1)
    with torch.no_grad():  # make ids outside the range overwhelmingly likely
        model.embedding.token.weight[:64] *= 50.0
    seq = random_sequence(rng, TEST_LAYOUT, 1)
    first = observation(seq, 0)
    decoder = KVCacheDecoder(model, num_rows=4, context=512)
    decoder.reset_rows([0, 1, 2, 3], seeds=[0, 1, 2, 3])
    lo, hi = 70, 75
    seen = set()
    for _ in range(20):
        decoder.reset_rows([0, 1, 2, 3], seeds=rng.integers(0, 1000, 4).tolist())
        decoder.append([0, 1, 2, 3], stack([first] * 4))
        ids = decoder.decode_action_tokens([0, 1, 2, 3], [(lo, hi)] * 3, temperature=50.0)
        assert ids.min() >= lo and ids.max() < hi
        seen.update(ids.ravel().tolist())
    assert seen == set(range(lo, hi))  # a hot temperature reaches every allowed id
    unmasked = full_logits(model, first)[-1]
    assert not lo <= int(unmasked.argmax()) < hi  # so the mask was what kept samples inside


def test_a_rows_samples_do_not_depend_on_the_other_rows():
    rng = np.random.default_rng(4)
    model = make_model(layers=2)
    seqs = [random_sequence(rng, TEST_LAYOUT, 1) for _ in range(3)]
    observations = [observation(s, 0) for s in seqs]
    ranges = [ACTION_RANGE] * 6
    together = KVCacheDecoder(model, num_rows=3, context=64)
    together.reset_rows([0, 1, 2], seeds=[11, 12, 13])
    together.append([0, 1, 2], stack(observations))
    ids_together = together.decode_action_tokens([0, 1, 2], ranges, temperature=3.0)
    alone = KVCacheDecoder(model, num_rows=3, context=64)
    alone.reset_rows([1], seeds=[12])
    alone.append([1], observations[1])
    ids_alone = alone.decode_action_tokens([1], ranges, temperature=3.0)
    assert np.array_equal(ids_alone[0], ids_together[1])
    reseeded = KVCacheDecoder(model, num_rows=3, context=64)
    reseeded.reset_rows([1], seeds=[99])
    reseeded.append([1], observations[1])
    assert not np.array_equal(reseeded.decode_action_tokens([1], ranges, 3.0)[0], ids_alone[0])


def _roll_out(decoder, model, rows, seqs, steps, check_from=0):
    """Feed whole timesteps (observation via append, actions decoded greedily); return the
    largest |cached - full pass over the kept window| per step and the histories."""
    histories = {r: None for r in rows}
    errors = []
    for t in range(steps):
        observations = []
        for r in rows:
            observations.append(observation(seqs[r], t))
        logits = decoder.append(rows, stack(observations))
        worst = 0.0
        for i, r in enumerate(rows):
            parts = (
                [histories[r], observations[i]] if histories[r] is not None else [observations[i]]
            )
            histories[r] = concat(parts)
            start = int(decoder.dropped[r])
            assert start + decoder.lengths[r] == histories[r].shape[1]
            kept = window(histories[r], start, histories[r].shape[1])
            assert kept.timestep_start[0, 0] or start == 0  # cuts fall on timestep starts
            worst = max(worst, float((logits[i] - full_logits(model, kept)[-1]).abs().max()))
        errors.append(worst)
        ids = decoder.decode_action_tokens(rows, [ACTION_RANGE] * 2)
        for i, r in enumerate(rows):
            histories[r] = concat([histories[r], action_tokens(ids[i])])
        assert (decoder.lengths <= decoder.context).all()
    return errors, histories


@BIASES
def test_recompute_window_equals_a_full_pass_over_the_kept_window(bias):
    rng = np.random.default_rng(5)
    model = make_model(layers=3, position_bias=bias)
    seqs = [random_sequence(rng, TEST_LAYOUT, 16) for _ in range(2)]
    decoder = KVCacheDecoder(model, num_rows=2, context=40, recompute_chunk=12)
    errors, _ = _roll_out(decoder, model, [0, 1], seqs, steps=16)
    assert max(errors) < TOL
    assert (decoder.dropped > 60).all()  # the window slid many times
    # Amortized: after a slide at least recompute_chunk positions were free again.
    assert (decoder.lengths <= decoder.context).all()


def test_recompute_frees_a_chunk_so_recomputes_are_rare():
    rng = np.random.default_rng(6)
    model = make_model(layers=2)
    seqs = [random_sequence(rng, TEST_LAYOUT, 30)]
    decoder = KVCacheDecoder(model, num_rows=1, context=64)  # chunk = 16
    calls = []
    original = decoder._reprefill
    decoder._reprefill = lambda rows, kept: (calls.append(len(kept[0])), original(rows, kept))
    _roll_out(decoder, model, [0], seqs, steps=30)
    drops = int(decoder.dropped[0])
    assert drops > 2 * 64
    # Each recompute freed >= 16 positions, so there were at most drops / 16 of them.
    assert 1 <= len(calls) <= drops // 16
    assert all(kept <= 64 - 16 for kept in calls)


@BIASES
def test_xl_window_is_exact_for_one_layer(bias):
    rng = np.random.default_rng(7)
    model = make_model(layers=1, position_bias=bias)
    seqs = [random_sequence(rng, TEST_LAYOUT, 14) for _ in range(2)]
    decoder = KVCacheDecoder(model, num_rows=2, context=32, window="xl")
    errors, _ = _roll_out(decoder, model, [0, 1], seqs, steps=14)
    assert max(errors) < TOL
    assert (decoder.dropped > 40).all()


def test_xl_window_is_approximate_for_deeper_models():
    # The documented caveat: kept keys/values of layers >= 2 saw the dropped tokens.
    rng = np.random.default_rng(8)
    model = make_model(layers=2)
    seqs = [random_sequence(rng, TEST_LAYOUT, 12)]
    decoder = KVCacheDecoder(model, num_rows=1, context=32, window="xl")
    errors, _ = _roll_out(decoder, model, [0], seqs, steps=12)
    assert errors[0] < TOL  # exact until the first slide
    assert max(errors) > 1e-3  # not after it


def _xl_logits(decoder, plays, steps):
    """Greedy XL decoding of whole timesteps, with `plays` = [(rows, {row: sequence})] calls
    per step; returns {row: [observation logits per step]}."""
    logits = {}
    for t in range(steps):
        for rows, seqs in plays:
            observations = []
            for r in rows:
                observations.append(observation(seqs[r], t))
            out = decoder.append(rows, stack(observations))
            for i, r in enumerate(rows):
                logits.setdefault(r, []).append(out[i])
            decoder.decode_action_tokens(rows, [ACTION_RANGE] * 2)
    return logits


@BIASES
def test_xl_ring_matches_across_lockstep_and_ragged_batches(bias):
    # The XL window moves a ring head instead of copying the kept keys/values. Batched in
    # lockstep (slices, one shared mask) or ragged (scattered slots, per-row masks, rows at
    # different ring phases), the same row's history must give the same logits.
    rng = np.random.default_rng(13)
    model = make_model(layers=2, position_bias=bias)
    seq = random_sequence(rng, TEST_LAYOUT, 14)
    other = random_sequence(rng, TEST_LAYOUT, 14, max_obs=3)
    lockstep = KVCacheDecoder(model, num_rows=2, context=32, window="xl")
    together = _xl_logits(lockstep, [([0, 1], {0: seq, 1: seq})], steps=14)
    ragged = KVCacheDecoder(model, num_rows=3, context=32, window="xl")
    apart = _xl_logits(ragged, [([2, 0], {0: seq, 2: other}), ([1], {1: seq})], steps=14)
    assert lockstep._heads.any() and len(set(ragged._heads.tolist())) > 1  # rings have wrapped
    for r in (0, 1):
        for a, b in zip(together[r], apart[r], strict=True):
            assert torch.allclose(a, b, atol=TOL, rtol=0)
    assert torch.equal(together[0][-1], together[1][-1])


@BIASES
def test_a_waiting_action_token_joins_the_next_append_row_by_row(bias):
    # The last decoded action token enters the cache with the next append. In one append, a row
    # with a waiting token and a freshly reset row (none waiting) must both match a full pass.
    rng = np.random.default_rng(14)
    model = make_model(layers=2, position_bias=bias)
    seqs = [random_sequence(rng, TEST_LAYOUT, 2) for _ in range(2)]
    first = [observation(s, 0) for s in seqs]
    decoder = KVCacheDecoder(model, num_rows=2, context=64)
    decoder.append([0, 1], stack(first))
    ids = decoder.decode_action_tokens([0, 1], [ACTION_RANGE] * 2)
    assert decoder.lengths.tolist() == [first[0].shape[1] + 1, first[1].shape[1] + 1]
    with pytest.raises(ValueError, match="append an observation"):
        decoder.decode_action_tokens([0], [ACTION_RANGE])  # its last token has not entered yet
    decoder.reset_rows([1])
    nxt = [observation(s, 1) for s in seqs]
    logits = decoder.append([1, 0], stack([nxt[1], nxt[0]]))
    history = concat([first[0], action_tokens(ids[0]), nxt[0]])
    assert torch.allclose(logits[1], full_logits(model, history)[-1], atol=TOL, rtol=0)
    assert torch.allclose(logits[0], full_logits(model, nxt[1])[-1], atol=TOL, rtol=0)
    assert decoder.lengths.tolist() == [history.shape[1], nxt[1].shape[1]]


def test_timesteps_longer_than_half_the_context_still_slide_exactly():
    # A waiting action token joins the next observation only where the window can keep its
    # timestep; otherwise it enters alone and the new timestep may drop all history.
    rng = np.random.default_rng(15)
    model = make_model(layers=2)
    seqs = [random_sequence(rng, TEST_LAYOUT, 8, max_obs=5) for _ in range(2)]
    longest = max(np.diff(timestep_bounds(s)).max() for s in seqs)
    context = int(longest) + 3
    assert 2 * longest > context  # a timestep and the next observation never fit together
    decoder = KVCacheDecoder(model, num_rows=2, context=context, recompute_chunk=1)
    errors, _ = _roll_out(decoder, model, [0, 1], seqs, steps=8)
    assert max(errors) < TOL
    assert (decoder.dropped > 0).all()


@BIASES
def test_padding_never_enters_the_cache(bias):
    rng = np.random.default_rng(9)
    model = make_model(layers=2, position_bias=bias)
    long, short = random_sequence(rng, TEST_LAYOUT, 4), random_sequence(rng, TEST_LAYOUT, 1)
    decoder = KVCacheDecoder(model, num_rows=2, context=128)
    decoder.append([0, 1], stack([short, long]))  # row 0 is padded to the long row's length
    assert decoder.lengths.tolist() == [short.shape[1], long.shape[1]]
    more = random_sequence(rng, TEST_LAYOUT, 2)
    logits = decoder.append([0], more)
    assert torch.allclose(
        logits[0], full_logits(model, concat([short, more]))[-1], atol=TOL, rtol=0
    )


def test_reset_rows_forgets_the_past():
    rng = np.random.default_rng(10)
    model = make_model(layers=2)
    first, second = random_sequence(rng, TEST_LAYOUT, 3), random_sequence(rng, TEST_LAYOUT, 2)
    decoder = KVCacheDecoder(model, num_rows=1, context=128)
    decoder.append([0], first)
    decoder.reset_rows([0])
    logits = decoder.append([0], second)
    assert torch.allclose(logits[0], full_logits(model, second)[-1], atol=TOL, rtol=0)


def test_a_timestep_longer_than_the_context_is_refused():
    rng = np.random.default_rng(11)
    model = make_model(layers=1)
    seq = random_sequence(rng, TEST_LAYOUT, 3, max_obs=12)
    decoder = KVCacheDecoder(model, num_rows=1, context=8)
    with pytest.raises(GatoEvalError, match="context"):
        decoder.append([0], seq)


def test_misuse_is_refused():
    model = make_model(layers=1)
    with pytest.raises(ValueError, match="eval"):
        KVCacheDecoder(model.train(), num_rows=1)
    model.eval()
    with pytest.raises(GatoEvalError, match="window"):
        KVCacheDecoder(model, num_rows=1, window="sliding")
    decoder = KVCacheDecoder(model, num_rows=2, context=16)
    with pytest.raises(ValueError, match="append an observation"):
        decoder.decode_action_tokens([0], [ACTION_RANGE])
    with pytest.raises(ValueError, match="distinct"):
        decoder.reset_rows([1, 1])
    with pytest.raises(ValueError, match="rows must be in"):
        decoder.reset_rows([2])


def test_a_bfloat16_cache_stays_close_to_float32():
    # The CUDA configuration stores keys/values in bf16; the cast path must work on any device.
    rng = np.random.default_rng(12)
    model = make_model(layers=2)
    seq = random_sequence(rng, TEST_LAYOUT, 3)
    decoder = KVCacheDecoder(model, num_rows=1, context=64, cache_dtype=torch.bfloat16)
    assert decoder._keys[0].dtype == torch.bfloat16
    logits = decoder.append([0], seq)
    assert torch.allclose(logits[0], full_logits(model, seq)[-1], atol=5e-2, rtol=0)
