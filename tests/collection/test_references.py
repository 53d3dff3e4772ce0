"""Expert and random reference measurements under a protocol, on real environments.

The paper's window rule itself is tested on hand-computed numbers in test_datasets.py; here:
what `measure_expert_score` / `measure_random_score` play (the spec's step cap, the demonstrator,
the seeds), that their numbers are the rule applied to those episodes, and that provenance
states N, W, seeds, protocol and demonstrator version.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import replace

import numpy as np
import pytest

from gato_eval.collection.references import (
    ExpertScore,
    RandomScore,
    expert_provenance,
    measure_expert_score,
    measure_random_score,
    random_provenance,
    record_references,
    windowed_expert_score,
)
from gato_eval.core.errors import GatoEvalError
from gato_eval.experts import make_expert
from gato_eval.policies.random import RandomPolicy
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.suites.registry import get_task

CAP = 40


def capped(task_id: str, steps: int = CAP):
    return replace(get_task(task_id), max_episode_steps=steps)


def returns_of(spec, policy, seed: int, episodes: int) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        results = run_episodes(spec, policy, plan_episodes(seed, spec.task_id, range(episodes)), 1)
    return [r.episode_return for r in results]


def test_expert_score_is_the_window_rule_over_capped_episodes_in_index_order():
    spec = capped("dmc-cartpole-swingup")
    score = measure_expert_score(spec, 20, seed=3, num_envs=2)
    expected = returns_of(spec, make_expert(spec), 3, 20)
    assert score.protocol == f"max_steps={CAP}"
    assert score.returns == pytest.approx(expected)  # same episodes whatever num_envs
    assert score.window == 2 and score.episodes == 20 and score.failed == 0
    assert score.score == pytest.approx(windowed_expert_score(expected))
    assert score.demonstrator == "dmc-cartpole-lqr-energy v1"
    # 40 steps of a swing-up earn far less than a full episode: the cap was applied.
    assert max(score.returns) <= CAP


def test_random_score_plays_the_specs_protocol():
    spec = capped("babyai-go-to-red-ball", 10)
    random = measure_random_score(spec, 12, seed=5, num_envs=3)
    expected = returns_of(spec, RandomPolicy(), 5, 12)
    assert random.protocol == "max_steps=10"
    assert random.mean == pytest.approx(np.mean(expected))
    assert (random.episodes, random.seed, random.failed) == (12, 5, 0)
    full = measure_random_score("babyai-go-to-red-ball", 2)
    assert full.protocol == "full"


def test_provenance_names_every_number_that_made_the_reference():
    expert = ExpertScore(
        "atari-pong", "max_steps=1000", 5.0, (1.0, 9.0) * 5, 1, "atari-pong-ram v1", 1, 0
    )
    text = expert_provenance(expert, day="2026-12-02")
    for part in ("W=1", "10 max_steps=1000 episodes", "atari-pong-ram v1", "run seed 1"):
        assert part in text
    assert "not stored" in text and "2026-12-02" in text
    random = RandomScore("atari-pong", -20.0, 50, 0, 2, "max_steps=1000")
    text = random_provenance(random, day="2026-12-02")
    assert re.search(r"mean of 50 max_steps=1000 episodes, 2 failed", text)
    assert "run seed 0" in text
    assert "full-length" in random_provenance(replace(random, protocol="full", failed=0))


def test_measurements_refuse_bad_counts_and_tasks_without_a_demonstrator():
    with pytest.raises(GatoEvalError, match="positive integer"):
        measure_expert_score("dmc-cartpole-swingup", 0)
    with pytest.raises(GatoEvalError, match="positive integer"):
        measure_random_score("dmc-cartpole-swingup", True)
    with pytest.raises(GatoEvalError, match="no demonstrator for dmc-walker-walk"):
        measure_expert_score("dmc-walker-walk", 2)


def test_a_data_sets_expert_is_not_recorded_beside_a_capped_random(tmp_path):
    class Info:  # the one field record_references reads before refusing
        task_id = "atari-pong"

    random = RandomScore("atari-pong", -3.0, 5, 0, 0, "max_steps=1000")
    with pytest.raises(GatoEvalError, match="full-length"):
        record_references(Info(), random, path=tmp_path / "refs.csv")
    assert not (tmp_path / "refs.csv").exists()
