"""The toy fine-tuning ablation grid that the ablation's end-to-end tests share.

One held-out task (cartpole swing-up), real demonstrations collected at toy size, a few
pretraining and fine-tuning steps, two evaluation episodes cut at 15 steps: seconds a cell.
"""

from __future__ import annotations

import copy

TASK = "dmc-cartpole-swingup"
_TOY_GRID = {
    "format": "gato-eval-ablation-grid",
    "version": 1,
    "name": "toy",
    "tasks": [TASK],
    "variants": ["all", "same-domain", "no-control", "scratch"],
    "demonstrations": [1, 2],
    "seeds": [0],
    "heldout_data": {TASK: {"episodes": 4, "noise": 0.3, "best": 3}},
    "pretraining_data": [{"task": "dmc-cartpole-balance", "episodes": 2, "noise": 0.5}],
    "collection_seed": 0,
    "pretraining": {
        "preset": "gato-tiny",
        "steps": 3,
        "batch_size": 2,
        "lr": 1e-3,
        "context_length": 64,
        "position_bias": "alibi",  # every model of the grid, scratch included, trains with it
        "text_characters": 20_000,
        "caption_examples": 100,
    },
    "finetuning": {"steps": 2, "lr": 1e-4, "batch_size": 2},
    "evaluation": {"episodes": 2, "envs": 2, "seed": 1000, "max_episode_steps": {"dmc": 15}},
}


def toy_grid(**changes: object) -> dict:
    """A fresh copy of the toy grid's JSON object with `changes` replacing top-level keys."""
    return {**copy.deepcopy(_TOY_GRID), **copy.deepcopy(changes)}
