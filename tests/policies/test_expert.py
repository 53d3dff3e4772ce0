"""The expert policy adapter: one demonstrator per task, clean labels under noise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.policies.expert import ExpertPolicy
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.suites.registry import get_task


def test_prepare_refuses_a_task_without_demonstrator_and_describes_the_others():
    policy = ExpertPolicy()
    described = policy.prepare([get_task("babyai-go-to-red-ball")])
    assert set(described["demonstrators"]) == {"babyai-go-to-red-ball"}
    with pytest.raises(GatoEvalError, match="no demonstrator for atari-alien"):
        policy.prepare([get_task("atari-alien")])


def test_noisy_expert_records_clean_labels_and_executed_actions():
    task = replace(get_task("dmc-cartpole-balance"), max_episode_steps=30)
    episodes = plan_episodes(0, task.task_id, range(2))
    clean = run_episodes(task, ExpertPolicy(), episodes, 2, record_trajectories=True)
    noisy = run_episodes(task, ExpertPolicy(noise=0.5), episodes, 2, record_trajectories=True)
    for result in clean:
        assert "executed_actions" not in result.trajectory.extras
    for result in noisy:
        episode = result.trajectory
        executed = episode.extras["executed_actions"]
        assert executed.shape == episode.actions.shape == (30, 1)
        assert not np.allclose(executed, episode.actions)
        assert np.all(np.abs(episode.actions) <= 1.0)
    # Same seeds, another slot count: the same noisy episodes.
    again = run_episodes(task, ExpertPolicy(noise=0.5), episodes, 1)
    assert [r.episode_return for r in again] == [r.episode_return for r in noisy]
