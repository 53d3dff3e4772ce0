"""Actions <-> token ids: ranges, the mu-law decision for Box actions, decoding inside the space."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.actions import ActionTokenizer
from gato_eval.tokenizer.layout import PAPER_LAYOUT, TokenLayout
from gato_eval.tokenizer.values import mu_law_encode

LAYOUT = TokenLayout.for_text_vocab(128)  # values [128, 1152), separator 1152
HALF_BIN = 1.0 / 1024


def test_discrete_actions_use_the_first_n_value_ids():
    actions = ActionTokenizer(spaces.Discrete(18), PAPER_LAYOUT)
    assert actions.token_count == 1
    assert actions.token_range(0) == (32000, 32018)
    ids = actions.encode(np.array([0, 5, 17]))
    assert ids.tolist() == [[32000], [32005], [32017]] and ids.dtype == np.int64
    decoded = actions.decode(ids)
    assert decoded.tolist() == [0, 5, 17] and decoded.dtype == np.int64


def test_discrete_start_offset():
    actions = ActionTokenizer(spaces.Discrete(3, start=-1), LAYOUT)
    assert actions.encode(np.array([-1, 1])).tolist() == [[128], [130]]
    assert actions.decode([[128], [130]]).tolist() == [-1, 1]


def test_discrete_errors():
    actions = ActionTokenizer(spaces.Discrete(4), LAYOUT)
    with pytest.raises(GatoEvalError, match=r"action 4 \(row 1\) is outside"):
        actions.encode(np.array([0, 4]))
    with pytest.raises(
        GatoEvalError, match=r"token id 132 .* outside its valid range \[128, 132\)"
    ):
        actions.decode([[132]])
    with pytest.raises(GatoEvalError, match="more than 1024"):
        ActionTokenizer(spaces.Discrete(1025), LAYOUT)
    with pytest.raises(GatoEvalError, match="not supported"):
        ActionTokenizer(spaces.MultiDiscrete([2, 3]), LAYOUT)


def test_box_inside_unit_interval_is_binned_linearly():
    actions = ActionTokenizer(spaces.Box(-1, 1, (2,), np.float32), LAYOUT)
    assert not actions.uses_mu_law and actions.token_count == 2
    assert [actions.token_range(i) for i in range(2)] == [(128, 1152), (128, 1152)]
    ids = actions.encode(np.array([[-1.0, 1.0], [0.0, 0.5]], dtype=np.float32))
    assert (ids - 128).tolist() == [[0, 1023], [512, 768]]
    decoded = actions.decode(ids)
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, [[-1023 / 1024, 1023 / 1024], [1 / 1024, 1537 / 1024 - 1]])


def test_box_mu_law_decision():
    assert ActionTokenizer(spaces.Box(-2, 2, (1,), np.float32), LAYOUT).uses_mu_law
    trained_with_mu_law = TokenLayout(name="old", text_vocab_size=128, mu_law_actions=True)
    mu = ActionTokenizer(spaces.Box(-1, 1, (1,), np.float32), trained_with_mu_law)
    assert mu.uses_mu_law
    # Under mu-law, 0.5 lands in bin floor((F(0.5) + 1) * 512).
    expected = int(np.floor((mu_law_encode(0.5) + 1) * 512))
    assert int(mu.encode(np.array([[0.5]], np.float32))[0, 0]) - 128 == expected


def test_box_shape_and_value_errors():
    actions = ActionTokenizer(spaces.Box(-1, 1, (2,), np.float32), LAYOUT)
    with pytest.raises(GatoEvalError, match=r"shape \(B, 2\)"):
        actions.encode(np.zeros((3, 3), np.float32))
    with pytest.raises(GatoEvalError, match=r"action contains nan at row 1, element 0"):
        actions.encode(np.array([[0, 0], [np.nan, 0]], np.float32))
    with pytest.raises(GatoEvalError, match=r"action contains inf"):
        actions.encode(np.array([[np.inf, 0]], np.float32))
    with pytest.raises(GatoEvalError, match=r"token id 1152 .* \[128, 1152\)"):
        actions.decode([[128, 1152]])
    with pytest.raises(GatoEvalError, match="not a float Box"):
        ActionTokenizer(spaces.Box(0, 3, (2,), np.int64), LAYOUT)


box_spaces = st.sampled_from(
    [
        spaces.Box(-1, 1, (6,), np.float32),  # DMC walker / cheetah
        spaces.Box(-1, 1, (4,), np.float32),  # Meta-World
        spaces.Box(np.array([-0.4, -1.0], np.float32), np.array([0.4, 0.25], np.float32)),
        spaces.Box(-2, 2, (3,), np.float64),  # outside [-1, 1]: mu-law
        spaces.Box(-300, 300, (2,), np.float32),  # beyond M: saturates
        spaces.Box(-np.inf, np.inf, (2,), np.float32),
    ]
)


@settings(deadline=None)  # builds a tokenizer per example on a shared machine
@given(box_spaces, st.data())
def test_any_valid_ids_decode_inside_the_space(space, data):
    actions = ActionTokenizer(space, LAYOUT)
    ids = data.draw(hnp.arrays(np.int64, (4, actions.token_count), elements=st.integers(128, 1151)))
    decoded = actions.decode(ids)
    assert decoded.dtype == space.dtype and decoded.shape == (4, *space.shape)
    assert all(space.contains(row) for row in decoded)


@settings(deadline=None)
@given(st.integers(1, 1024), st.data())
def test_any_valid_discrete_ids_decode_inside_the_space(n, data):
    space = spaces.Discrete(n)
    actions = ActionTokenizer(space, LAYOUT)
    ids = data.draw(hnp.arrays(np.int64, (5, 1), elements=st.integers(128, 128 + n - 1)))
    assert all(space.contains(a) for a in actions.decode(ids))
    np.testing.assert_array_equal(actions.encode(actions.decode(ids)), ids)


@given(hnp.arrays(np.float32, (3, 4), elements=st.floats(-1, 1, width=32)))
def test_linear_round_trip_within_half_a_bin(values):
    actions = ActionTokenizer(spaces.Box(-1, 1, (4,), np.float32), LAYOUT)
    decoded = actions.decode(actions.encode(values))
    assert np.all(np.abs(decoded.astype(np.float64) - values) <= HALF_BIN + 1e-7)


@given(hnp.arrays(np.float64, (3, 2), elements=st.floats(allow_nan=False, allow_infinity=False)))
def test_mu_law_round_trip_within_half_a_bin_in_mu_law_space(values):
    space = spaces.Box(-np.inf, np.inf, (2,), np.float64)
    actions = ActionTokenizer(space, LAYOUT)
    decoded = actions.decode(actions.encode(values))
    companded = np.clip(mu_law_encode(values), -1, 1)
    assert np.all(np.abs(mu_law_encode(decoded) - companded) <= HALF_BIN + 1e-12)
