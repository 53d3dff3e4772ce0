"""Gato tokenization (paper Sec. 2.1, App. B-C; GATO.md sections 1-3).

| module            | concept                                                              |
|-------------------|----------------------------------------------------------------------|
| `layout`          | `TokenLayout`: which ids mean what (text, values, separator)         |
| `batch`           | `TokenBatch`: the tokenizer -> model format; `concat_rows`, `stack_rows` |
| `values`          | mu-law, the 1024 bins over [-1, 1], bin centres                      |
| `images`          | 16x16 patches and their patch position intervals                     |
| `text`            | SentencePiece: `train_text_tokenizer`, `TextTokenizer`               |
| `observations`    | a task's declared observation space and the checks against it        |
| `actions`         | `ActionTokenizer`: actions <-> ids for Discrete and Box spaces       |
| `timestep`        | `TimestepTokenizer`: observations and episodes -> `TokenBatch`       |
| `documents`       | text documents and captioned images (non-control training data)      |

The names below are importable from `gato_eval.tokenizer` and load their module on first use,
so importing one light module (the layout, in the CLI) does not load SentencePiece or gymnasium.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TokenLayout": "layout",
    "PAPER_LAYOUT": "layout",
    "TokenBatch": "batch",
    "concat_rows": "batch",
    "stack_rows": "batch",
    "empty_token_batch": "batch",
    "mu_law_encode": "values",
    "mu_law_decode": "values",
    "bin_values": "values",
    "bin_centres": "values",
    "images_to_patches": "images",
    "patch_intervals": "images",
    "evaluation_patch_positions": "images",
    "sample_patch_positions": "images",
    "TextTokenizer": "text",
    "train_text_tokenizer": "text",
    "ActionTokenizer": "actions",
    "TimestepTokenizer": "timestep",
    "encode_text": "documents",
    "encode_image_caption": "documents",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gato_eval.tokenizer' has no attribute {name!r}")
    module = importlib.import_module(f"gato_eval.tokenizer.{_EXPORTS[name]}")
    return getattr(module, name)
