"""A random score keeps its episodes' returns: the upper quartile an outside expert must beat."""

from __future__ import annotations

from gato_eval.collection.references import RandomScore, measure_random_score, upper_quartile


def test_the_upper_quartile_is_the_75th_percentile_of_the_returns():
    assert upper_quartile([]) is None
    assert upper_quartile([0.0, 0.0, 100.0, 100.0, 100.0]) == 100.0
    assert upper_quartile([1.0, 2.0, 3.0, 4.0, 5.0]) == 4.0
    score = RandomScore("atari-pong", -20.0, 4, 0, 0, returns=(-21.0, -21.0, -20.0, -18.0))
    assert score.median == -20.5 and score.upper_quartile == -19.5


def test_measured_random_play_records_every_return():
    random = measure_random_score("babyai-go-to-red-ball", 6, seed=3, num_envs=2)
    assert len(random.returns) == random.episodes == 6
    assert random.mean == sum(random.returns) / 6
    assert min(random.returns) <= random.upper_quartile <= max(random.returns)
