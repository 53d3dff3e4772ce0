"""The paper's expert score of a demonstrator: the best windowed mean of its returns.

Gato (Sec. 4.1 and App. C) scores an expert as the maximum, over windows of W consecutive
episodes of its data set in recorded order, of the mean return, with W = min(1000, 0.1 N)
(GATO.md section 3). This is the rule only; measuring a demonstrator is
`gato_eval.collection.references`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gato_eval.core.errors import GatoEvalError

MAX_WINDOW = 1000
WINDOW_FRACTION = 0.1


def expert_window(num_episodes: int) -> int:
    """W = min(1000, floor(0.1 N)), at least 1 (the paper does not say how 0.1 N is rounded)."""
    if num_episodes < 1:
        raise GatoEvalError("the expert score needs at least one episode")
    return max(1, min(MAX_WINDOW, math.floor(WINDOW_FRACTION * num_episodes)))


def windowed_expert_score(returns: Sequence[float]) -> float:
    """max over i of mean(returns[i : i + W]) for the window W of `expert_window(len(returns))`.

    returns: episode returns (N,) in the data set's order.
    """
    values = np.asarray(returns, dtype=np.float64)
    window = expert_window(len(values))
    sums = np.convolve(values, np.ones(window), mode="valid")  # (N - W + 1,) window sums
    return float(sums.max() / window)
