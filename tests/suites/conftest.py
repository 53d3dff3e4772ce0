"""Fixtures for the suite tests: a private GATO_EVAL_HOME, and helpers that play an env.

`play(env, seed, actions)` resets with `seed` and steps through `actions` until the episode
ends, returning a `Played` record; `random_actions(space, count, seed)` samples reproducibly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """No test reads or writes the user's ~/.gato-eval (user-local reference scores live there)."""
    home = tmp_path / "gato-home"
    monkeypatch.setenv("GATO_EVAL_HOME", str(home))
    return home


@pytest.fixture
def play():
    return play_episode


@pytest.fixture
def random_actions():
    return sample_actions


@dataclass
class Played:
    """What one episode (or its first steps) looked like."""

    observations: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    infos: list = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False

    def same_as(self, other: Played) -> bool:
        if len(self.observations) != len(other.observations) or self.rewards != other.rewards:
            return False
        for mine, theirs in zip(self.observations, other.observations, strict=True):
            if mine.keys() != theirs.keys():
                return False
            for key in mine:
                if key == "text":
                    if mine[key] != theirs[key]:
                        return False
                elif not np.array_equal(mine[key], theirs[key]):
                    return False
        return True


def play_episode(env, seed: int | None, actions) -> Played:
    """Reset with `seed`, then take `actions` until they run out or the episode ends."""
    played = Played()
    observation, _ = env.reset(seed=seed)
    played.observations.append(_copy(observation))
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        played.observations.append(_copy(observation))
        played.rewards.append(reward)
        played.infos.append(info)
        if terminated or truncated:
            played.terminated, played.truncated = terminated, truncated
            break
    return played


def sample_actions(space, count: int, seed: int = 0) -> list:
    """`count` actions sampled from `space` with a fixed seed."""
    space.seed(seed)
    return [space.sample() for _ in range(count)]


def _copy(observation):
    if not isinstance(observation, dict):  # a raw library env, compared against ours
        return np.array(observation, copy=True)
    return {
        k: (v if isinstance(v, str) else np.array(v, copy=True)) for k, v in observation.items()
    }
