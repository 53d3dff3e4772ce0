"""Mu-law companding and the 1024 value bins, pinned to GATO.md section 1 (paper App. B)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gato_eval.tokenizer import values
from gato_eval.tokenizer.layout import NUM_VALUE_BINS
from gato_eval.tokenizer.values import (
    bin_centres,
    bin_values,
    decode_continuous,
    encode_continuous,
    mu_law_decode,
    mu_law_encode,
)

HALF_BIN = 1.0 / 1024  # bins are 2/1024 wide over [-1, 1]
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
finite_float32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


def test_constants_are_the_papers():
    assert values.MU_LAW_MU == 100
    assert values.MU_LAW_M == 256
    assert values.NUM_BINS == NUM_VALUE_BINS == 1024


def test_mu_law_formula_by_hand():
    # F(x) = sgn(x) log(|x| mu + 1) / log(M mu + 1)
    for x in (0.01, 0.5, 1.0, 3.0, 100.0, -7.5):
        expected = math.copysign(math.log(abs(x) * 100 + 1) / math.log(256 * 100 + 1), x)
        assert math.isclose(float(mu_law_encode(x)), expected, rel_tol=1e-12)
    assert mu_law_encode(256.0) == 1.0 and mu_law_encode(-256.0) == -1.0
    assert mu_law_encode(0.0) == 0.0
    assert mu_law_encode(np.inf) == np.inf


def test_bins_by_hand():
    v = np.array([-1.0, -0.999, -0.5, -1e-17, 0.0, 0.0009765625, 0.5, 0.997, 1.0])
    # floor((v + 1) * 512), +1.0 -> 1023
    assert bin_values(v).tolist() == [0, 0, 256, 511, 512, 512, 768, 1022, 1023]
    assert bin_values(v).dtype == np.int64
    assert bin_centres([0, 511, 512, 1023]).tolist() == [
        1 / 1024 - 1,
        1023 / 1024 - 1,
        1025 / 1024 - 1,
        2047 / 1024 - 1,
    ]


def test_out_of_range_values_land_in_end_bins():
    assert bin_values([-5.0, 5.0]).tolist() == [0, 1023]
    assert encode_continuous([-1e30, 1e30, -np.finfo(np.float64).max], mu_law=True).tolist() == [
        0,
        1023,
        0,
    ]


@given(finite_floats)
def test_round_trip_within_half_a_bin_in_mu_law_space(x):
    companded = float(np.clip(mu_law_encode(x), -1, 1))
    centre = float(bin_centres(encode_continuous(x, mu_law=True)))
    assert abs(centre - companded) <= HALF_BIN


@given(finite_float32)
def test_round_trip_of_float32_observations(x):
    x32 = np.float32(x)
    companded = float(np.clip(mu_law_encode(x32), -1, 1))
    decoded = decode_continuous(encode_continuous(np.array([x32]), mu_law=True), mu_law=True)
    assert abs(float(mu_law_encode(decoded[0])) - companded) <= HALF_BIN + 1e-12


@given(st.floats(min_value=-1, max_value=1))
def test_linear_round_trip_within_half_a_bin(v):
    assert abs(float(decode_continuous(encode_continuous(v, mu_law=False), False)) - v) <= HALF_BIN


@given(finite_floats, finite_floats)
def test_encoding_is_monotone(a, b):
    low, high = min(a, b), max(a, b)
    for mu_law in (True, False):
        assert encode_continuous(low, mu_law) <= encode_continuous(high, mu_law)


def test_encoding_is_monotone_over_a_dense_grid():
    x = np.concatenate([-np.logspace(3, -6, 20000), [0.0], np.logspace(-6, 3, 20000)])
    bins = encode_continuous(x, mu_law=True)
    assert np.all(np.diff(bins) >= 0)
    assert bins[0] == 0 and bins[-1] == 1023
    assert len(np.unique(bins)) == 1024  # mu-law of [-1000, 1000] reaches every bin


@given(st.floats(min_value=-256, max_value=256))
def test_mu_law_decode_inverts_encode(x):
    assert math.isclose(float(mu_law_decode(mu_law_encode(x))), x, rel_tol=1e-9, abs_tol=1e-12)


def test_every_bin_decodes_to_its_own_bin():
    k = np.arange(1024)
    assert np.array_equal(encode_continuous(decode_continuous(k, False), False), k)
    assert np.array_equal(encode_continuous(decode_continuous(k, True), True), k)
