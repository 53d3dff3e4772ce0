"""The Gato model: presets, embeddings, transformer, KV-cache decoding, safe checkpoints.

Public names are imported lazily, so `from gato_eval.model import GatoConfig` (or importing
`gato_eval.model.config`) does not load torch; the CLI stays fast at `--help`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GatoConfig": "config",
    "PRESETS": "config",
    "get_preset": "config",
    "count_parameters": "config",
    "GatoModel": "transformer",
    "gato_loss": "loss",
    "KVCacheDecoder": "decoding",
    "resolve_device": "device",
    "autocast_for": "device",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "checkpoint_hash": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gato_eval.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gato_eval.model.{_EXPORTS[name]}"), name)
