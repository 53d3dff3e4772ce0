"""Fixtures for tokenizer tests: a small real SentencePiece model and hand-built task spaces."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from gato_eval.tokenizer.layout import TokenLayout
from gato_eval.tokenizer.text import train_text_tokenizer

COLOURS = ("red", "green", "blue", "purple", "yellow", "grey")
OBJECTS = ("ball", "box", "key")
MISSIONS = tuple(
    [f"go to the {c} {o}" for c in COLOURS for o in OBJECTS]
    + [f"pick up a {c} {o}" for c in COLOURS for o in OBJECTS]
    + [f"open the {c} door" for c in COLOURS]
    + [f"put the {c} ball next to the {d} key" for c in COLOURS for d in COLOURS]
)
TEXT_VOCAB = 128


@pytest.fixture(scope="session")
def mission_tokenizer(tmp_path_factory):
    """A real 128-piece BPE model trained on BabyAI-style missions."""
    path = tmp_path_factory.mktemp("spm") / "missions.model"
    return train_text_tokenizer(MISSIONS, TEXT_VOCAB, path, model_type="bpe")


@pytest.fixture(scope="session")
def small_layout():
    return TokenLayout.for_text_vocab(TEXT_VOCAB)


@pytest.fixture
def all_keys_space():
    """Every observation key of the contract, sized small: image 32x48 (6 patches), 3 discrete
    values, 2 continuous values."""
    return spaces.Dict(
        {
            "text": spaces.Text(max_length=200),
            "image": spaces.Box(0, 255, (32, 48, 3), np.uint8),
            "discrete": spaces.Box(0, 1023, (3,), np.int64),
            "continuous": spaces.Box(-np.inf, np.inf, (2,), np.float32),
        }
    )


@pytest.fixture
def dmc_space():
    """A DMC-like observation: 5 continuous values."""
    return spaces.Dict({"continuous": spaces.Box(-np.inf, np.inf, (5,), np.float32)})
