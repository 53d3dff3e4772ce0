"""Numbers to value bins and back: mu-law companding and the 1024 uniform bins over [-1, 1].

Paper Sec. 2.1 and App. B (GATO.md section 1):

- mu-law `F(x) = sgn(x) * log(|x| * mu + 1) / log(M * mu + 1)` with mu = 100, M = 256;
- clip to [-1, 1], then bin `k = floor((v + 1) * 1024 / 2)`, with v = +1.0 going to bin 1023;
- decode at the bin centre `(2k + 1) / 1024 - 1`, then invert mu-law where it was applied.

Continuous observations always go through mu-law. Continuous actions whose Box lies inside
[-1, 1] are binned linearly unless the layout says otherwise (GATO.md decision): see
`gato_eval.tokenizer.actions`.

All arithmetic runs in float64 so that the bin of a float32 value never depends on rounding.
"""

from __future__ import annotations

import numpy as np

MU_LAW_MU = 100.0  # mu-law mu (App. B)
MU_LAW_M = 256.0  # mu-law M (App. B)
NUM_BINS = 1024  # uniform bins over [-1, 1] (Sec. 2.1); equals layout.NUM_VALUE_BINS
BIN_WIDTH = 2.0 / NUM_BINS


def mu_law_encode(x, mu: float = MU_LAW_MU, M: float = MU_LAW_M) -> np.ndarray:
    """`F(x) = sgn(x) log(|x| mu + 1) / log(M mu + 1)`, elementwise, as float64.

    Maps [-M, M] onto [-1, 1]; larger magnitudes map beyond it (callers clip). Infinite inputs
    map to +-inf.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):  # |x| * mu overflows to inf for |x| > ~1.8e306: that is fine
        return np.sign(x) * np.log1p(np.abs(x) * mu) / np.log1p(M * mu)


def mu_law_decode(y, mu: float = MU_LAW_MU, M: float = MU_LAW_M) -> np.ndarray:
    """The inverse of `mu_law_encode`: `sgn(y) ((M mu + 1)^|y| - 1) / mu`, as float64."""
    y = np.asarray(y, dtype=np.float64)
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(M * mu)) / mu


def bin_values(v) -> np.ndarray:
    """Bins of values in [-1, 1]: int64 `floor((v + 1) * 512)` in [0, 1024); +1.0 -> 1023.

    Values outside [-1, 1] land in the end bins (0 or 1023). NaN is the caller's to refuse.
    """
    v = np.asarray(v, dtype=np.float64)
    # floor(v * 512) + 512 equals floor((v + 1) * 512) and is exact in floating point (scaling
    # by a power of two is), where v + 1 would round -1e-17 up to bin 512.
    bins = np.floor(v * (NUM_BINS // 2)) + NUM_BINS // 2
    return np.clip(bins, 0, NUM_BINS - 1).astype(np.int64)


def bin_centres(k) -> np.ndarray:
    """The centre `(2k + 1) / 1024 - 1` of bin k (int array in [0, 1024)), as float64."""
    k = np.asarray(k, dtype=np.float64)
    return (2.0 * k + 1.0) / NUM_BINS - 1.0


def encode_continuous(x, mu_law: bool) -> np.ndarray:
    """Bins of finite values x (any shape): mu-law if asked, clip to [-1, 1], bin. int64.

    The magnitude is clipped to M before mu-law, which gives the same bin as clipping F(x) to
    [-1, 1] afterwards (F is increasing and F(M) = 1) without overflow for huge floats.
    """
    x = np.asarray(x, dtype=np.float64)
    if mu_law:
        x = mu_law_encode(np.clip(x, -MU_LAW_M, MU_LAW_M))
    return bin_values(np.clip(x, -1.0, 1.0))


def decode_continuous(bins, mu_law: bool) -> np.ndarray:
    """Values at the centres of `bins` (int array), mu-law inverted if it was applied. float64."""
    centres = bin_centres(bins)
    return mu_law_decode(centres) if mu_law else centres
