"""Prompt selection: demonstration choice by episode seed (windows: tests/tokenizer)."""

from __future__ import annotations

import numpy as np
import pytest

from gato_eval.core.episode import Episode
from gato_eval.core.errors import GatoEvalError
from gato_eval.policies.prompting import (
    choose_demonstration,
    default_prompt_tokens,
    prompt_generator,
    successful_demonstrations,
)


def _episode(ret, success=None):
    rewards = np.array([ret], dtype=np.float32)
    return Episode(
        task_id="t",
        observations={"discrete": np.zeros((2, 1), dtype=np.int64)},
        actions=np.zeros(1, dtype=np.int64),
        rewards=rewards,
        terminations=np.array([True]),
        truncations=np.array([False]),
        seed=0,
        success=success,
    )


def test_successful_demonstrations_use_the_flag_or_the_return():
    flagged = [_episode(1, True), _episode(5, False), _episode(0, True)]
    assert [e.episode_return for e in successful_demonstrations(flagged)] == [1, 0]
    # No flag: within 80% of the way from the worst (-21) to the best (21) return: >= 12.6.
    unflagged = [_episode(-21), _episode(21), _episode(13), _episode(12)]
    assert [e.episode_return for e in successful_demonstrations(unflagged)] == [21, 13]
    assert successful_demonstrations([]) == []


def test_the_demonstration_depends_only_on_the_episode_seed():
    seeds = [1000 + k for k in range(10)]  # the candidates' reset seeds, none evaluated here
    picks = [choose_demonstration(seeds, seed, prompt_generator(seed)) for seed in range(40)]
    again = [choose_demonstration(seeds, seed, prompt_generator(seed)) for seed in range(40)]
    assert picks == again and len(set(picks)) > 5 and all(0 <= p < 10 for p in picks)
    # With nothing to exclude the draw is the one recorded runs were prompted with.
    assert picks == [int(prompt_generator(seed).integers(10)) for seed in range(40)]
    with pytest.raises(GatoEvalError):
        choose_demonstration([], 0, prompt_generator(0))


def test_a_demonstration_of_the_evaluated_initial_state_is_never_picked():
    from gato_eval.rollout import episode_seed

    # A data set collected before collection had its own seed stream: its 10 episodes are the
    # very initial states of evaluation episodes 0-9 (run seed 0).
    seeds = [episode_seed(0, "dmc-cartpole-balance", i) for i in range(10)]
    own = {seed: seeds.index(seed) for seed in seeds}  # evaluated episode seed -> its own demo
    picks = {seed: choose_demonstration(seeds, seed, prompt_generator(seed)) for seed in seeds}
    assert all(picks[seed] != own[seed] for seed in seeds)
    assert len(set(picks.values())) > 3  # still a draw among the others
    # Without the check some episode would have been shown its own demonstration.
    assert any(int(prompt_generator(s).integers(10)) == own[s] for s in seeds)
    # A lone candidate from the evaluated initial state: one clear error, never that prompt.
    with pytest.raises(GatoEvalError, match="same initial state"):
        choose_demonstration([7], 7, prompt_generator(7))
    assert choose_demonstration([None, 7], 7, prompt_generator(7)) == 0  # seed unknown: allowed


def test_default_prompt_is_half_the_context():
    assert default_prompt_tokens(1024) == 512
