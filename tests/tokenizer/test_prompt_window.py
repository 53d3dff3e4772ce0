"""Prompt windows: whole timesteps from the demonstration's start, end or a uniform start."""

from __future__ import annotations

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.prompt_window import prompt_window

# Five timesteps of 4, 4, 6, 4, 3 tokens: starts at 0, 4, 8, 14, 18; 21 positions.
STARTS = np.zeros(21, dtype=bool)
STARTS[[0, 4, 8, 14, 18]] = True


@pytest.mark.parametrize(
    ("strategy", "max_tokens", "window"),
    [
        ("first", 10, (0, 8)),
        ("first", 14, (0, 14)),
        ("first", 100, (0, 21)),
        ("first", 3, (0, 0)),  # not one whole timestep fits
        ("end", 7, (14, 21)),
        ("end", 9, (14, 21)),
        ("end", 13, (8, 21)),
        ("end", 2, (0, 0)),
        ("end", 21, (0, 21)),
        ("none", 100, (0, 0)),
        ("first", 0, (0, 0)),
    ],
)
def test_windows_hold_whole_timesteps(strategy, max_tokens, window):
    assert prompt_window(STARTS, strategy, max_tokens) == window


def test_uniform_windows_are_full_length_and_cover_every_possible_start():
    rng = np.random.default_rng(0)
    windows = {prompt_window(STARTS, "uniform", 8, rng) for _ in range(200)}
    # Starts with a full 8-token window: 0 (->8), 4 (->8), 8 (->14), 14 (->21 is 7 tokens).
    assert windows == {(0, 8), (4, 8), (8, 14)}
    assert prompt_window(STARTS, "uniform", 50, rng) == (0, 21)  # the whole demonstration
    with pytest.raises(GatoEvalError):
        prompt_window(STARTS, "uniform", 8)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(GatoEvalError, match="unknown prompt strategy"):
        prompt_window(STARTS, "middle", 8)
    with pytest.raises(GatoEvalError, match="begin with a timestep start"):
        prompt_window(STARTS[1:], "first", 8)
