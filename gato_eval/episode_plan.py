"""Which episodes a run plays: each episode's reset seed and reset options, as pure functions.

An episode is identified by (run seed, task id, episode index). From those three alone come its
reset seed (`episode_seed`, sha256-derived, per seed stream) and the reset options its task's
family decides per episode (`suites.registry.episode_reset_options`, a hook of the family
module; Meta-World: the goal variant). So an episode's set-up never depends on `--envs`, the slot
that plays it, resuming or the backend; `plan_episodes` is where every caller (evaluation, Ray
work items, data collection, reference scores) gets its episodes, and `rollout.run_episodes`
plays them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from gato_eval.core.errors import GatoEvalError
from gato_eval.suites.registry import episode_reset_options

SEED_BITS = 31  # seeds stay in [0, 2**31): ALE, dm_control and numpy all accept that range
# Where the episodes of a stream draw their reset seeds: the prefix of the hashed string.
# Evaluation keeps the original derivation (recorded runs must resume and reproduce); data
# collection has its own namespace, so that `data collect --seed 0` cannot record the very
# initial states a `run suite --seed 0` evaluates and then prompts with. Data sets collected
# before the collection stream existed used the evaluation one (their collection records carry
# no `seed_derivation`); the prompt picker never shows an episode a demonstration with its own
# reset seed (`policies.prompting.choose_demonstration`).
SEED_STREAMS = {"evaluation": "gato-eval", "collection": "gato-eval/collect"}


def episode_seed(
    run_seed: int, task_id: str, episode_index: int, stream: str = "evaluation"
) -> int:
    """The reset seed of episode `episode_index` of `task_id` in a run seeded `run_seed`.

    The first 31 bits of sha256("{prefix}/{run_seed}/{task_id}/{episode_index}"), big-endian,
    prefix `SEED_STREAMS[stream]` ("gato-eval" for evaluation): stable across machines, Python
    versions and processes (unlike `hash()`), independent between tasks and streams, and a pure
    function of its arguments.
    """
    if episode_index < 0:
        raise GatoEvalError(f"episode index must be >= 0, got {episode_index}")
    text = seed_derivation(stream).format(
        run_seed=int(run_seed), task_id=task_id, index=int(episode_index)
    )
    digest = hashlib.sha256(text.encode())
    return int.from_bytes(digest.digest()[:4], "big") >> (32 - SEED_BITS)


def seed_derivation(stream: str) -> str:
    """The string a stream's seeds hash, as a template (recorded in data set metadata)."""
    if stream not in SEED_STREAMS:
        raise GatoEvalError(f"unknown seed stream {stream!r}: one of {', '.join(SEED_STREAMS)}")
    return SEED_STREAMS[stream] + "/{run_seed}/{task_id}/{index}"


class PlannedEpisode(NamedTuple):
    """One episode to play: its index in the run, its reset seed, and the reset options its
    task's family derives from (run seed, task, index) (None for most families)."""

    index: int
    seed: int
    options: dict[str, Any] | None = None


def plan_episodes(
    run_seed: int, task_id: str, indices: Sequence[int], stream: str = "evaluation"
) -> list[PlannedEpisode]:
    """The episodes `indices` of `task_id`: seeded by `episode_seed` from `stream`, with their
    reset options (`episode_reset_options`). Every caller that plays episodes plans them here."""
    return [
        PlannedEpisode(
            int(i),
            episode_seed(run_seed, task_id, int(i), stream),
            episode_reset_options(run_seed, task_id, int(i)),
        )
        for i in indices
    ]
