"""Aggregates, bootstrap intervals and threshold counts on small hand-computed tables."""

from __future__ import annotations

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.stats import (
    ScoreTable,
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    aggregate_scores,
    bootstrap_score_matrices,
    count_tasks_at_or_above,
    default_thresholds,
    task_intervals,
    threshold_curves,
)


def by_key(rows):
    return {(r.domain, r.metric): r for r in rows}


# --- point aggregates, by hand -------------------------------------------------------------


def test_iqm_trims_a_quarter_from_each_end():
    # 8 entries: drop 2 lowest (0, 1) and 2 highest (6, 100): mean of 2, 3, 4, 5.
    matrix = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 100.0]])
    assert aggregate_iqm(matrix) == pytest.approx(3.5)
    # 10 entries: int(2.5) = 2 trimmed from each end, like scipy.stats.trim_mean.
    matrix = np.arange(10.0).reshape(2, 5)
    assert aggregate_iqm(matrix) == pytest.approx(np.mean([2, 3, 4, 5, 6, 7]))
    # Fewer than 4 entries: nothing to trim.
    assert aggregate_iqm(np.array([[1.0, 2.0, 9.0]])) == pytest.approx(4.0)


def test_mean_median_and_optimality_gap_by_hand():
    # Two runs, three tasks; per-task means 0.5, 1.0, 2.0.
    matrix = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 3.0]])
    assert aggregate_mean(matrix) == pytest.approx((0.5 + 1.0 + 2.0) / 3)
    assert aggregate_median(matrix) == pytest.approx(1.0)
    # min(entry, 1): 0, 1, 1, 1, 1, 1 -> mean 5/6 -> gap 1/6.
    assert aggregate_optimality_gap(matrix) == pytest.approx(1 / 6)


def test_aggregates_agree_with_rliable_on_a_random_matrix():
    from rliable import metrics

    matrix = np.random.default_rng(3).normal(0.5, 0.4, size=(5, 13))
    assert aggregate_iqm(matrix) == pytest.approx(metrics.aggregate_iqm(matrix))
    assert aggregate_mean(matrix) == pytest.approx(metrics.aggregate_mean(matrix))
    assert aggregate_median(matrix) == pytest.approx(metrics.aggregate_median(matrix))
    assert aggregate_optimality_gap(matrix) == pytest.approx(
        metrics.aggregate_optimality_gap(matrix)
    )


def test_aggregates_are_vectorized_over_leading_axes():
    draws = np.random.default_rng(0).random((7, 3, 4))  # (reps, runs, tasks)
    for function in (aggregate_iqm, aggregate_mean, aggregate_median, aggregate_optimality_gap):
        expected = [function(draw) for draw in draws]
        assert function(draws) == pytest.approx(expected)


# --- threshold counts (Figure 5) -----------------------------------------------------------


def test_threshold_counts_include_ties():
    scores = np.array([0.0, 0.5, 0.5, 1.0, 1.2])
    thresholds = np.array([0.0, 0.5, 0.50001, 1.0, 1.2, 2.0])
    # >= counts the two tasks sitting exactly on 0.5, the one on 1.0 and the one on 1.2.
    assert count_tasks_at_or_above(scores, thresholds).tolist() == [5, 4, 2, 2, 1, 0]


def test_threshold_counts_equal_rliable_profile_times_tasks_off_ties_and_exceed_it_on_ties():
    from rliable.library import mean_score_deviation

    matrix = np.array([[0.2, 0.5, 0.9, 1.3], [0.4, 0.5, 1.1, 1.3]])  # task means .3 .5 1 1.3
    tasks = matrix.shape[1]
    means = matrix.mean(axis=0)
    for tau in (0.1, 0.45, 0.75, 1.2, 1.5):  # no task mean equals these
        ours = count_tasks_at_or_above(means, np.array([tau]))[0]
        assert ours == round(tasks * mean_score_deviation(matrix, tau))
    for tau in (0.5, 1.0):  # one task sits exactly on each: rliable's strict > misses it
        ours = count_tasks_at_or_above(means, np.array([tau]))[0]
        assert ours == round(tasks * mean_score_deviation(matrix, tau)) + 1


def test_a_score_equal_to_a_grid_threshold_in_exact_arithmetic_counts():
    grid = default_thresholds()
    assert grid[0] == 0.0 and grid[-1] == 2.0 and len(grid) == 201
    # random -29.9, expert 100, return 35.05 is exactly 50% in decimals, 0.4999999999999999 in
    # floats: a plain >= would drop it from the 50% count.
    score = (35.05 - -29.9) / (100.0 - -29.9)
    assert score < 0.5
    counts = count_tasks_at_or_above(np.array([score]), grid)
    assert counts[50] == 1 and counts[51] == 0


def test_threshold_curves_per_domain_add_up_to_all():
    matrix = np.array([[0.1, 0.6, 1.0, 1.5, 0.5], [0.3, 0.8, 1.0, 1.7, 0.5]])
    table = ScoreTable.from_matrix(
        "agent", matrix, ["a1", "a2", "d1", "d2", "b1"], ["atari", "atari", "dmc", "dmc", "babyai"]
    )
    curves = threshold_curves(table, reps=300, seed=1)
    assert list(curves.domains) == ["all", "atari", "dmc", "babyai"]
    total = sum(curves.domains[d].counts for d in ("atari", "dmc", "babyai"))
    assert curves.domains["all"].counts.tolist() == total.tolist()
    all_curve = curves.domains["all"]
    x = curves.thresholds
    # Task means 0.2, 0.7, 1.0, 1.6, 0.5: hand-counted at 50%, 100% (tie) and 150%.
    assert all_curve.counts[np.isclose(x, 0.5)].item() == 4
    assert all_curve.counts[np.isclose(x, 1.0)].item() == 2
    assert all_curve.counts[np.isclose(x, 1.5)].item() == 1
    assert all_curve.num_tasks == 5 and curves.domains["babyai"].num_tasks == 1
    assert np.all(all_curve.low <= all_curve.counts) and np.all(all_curve.counts <= all_curve.high)
    assert curves.unit == "seed" and "2 runs (seeds)" in curves.unit_note


# --- bootstrap -----------------------------------------------------------------------------


def interval_width(table, metric="iqm", seed=0):
    row = by_key(aggregate_scores(table, [metric], reps=1000, seed=seed))[("all", metric)]
    return row.estimate.high - row.estimate.low


def test_bootstrap_is_stratified_by_task():
    matrix = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    draws = bootstrap_score_matrices(ScoreTable.from_matrix("x", matrix, ["a", "b"], ["d", "d"]))
    assert draws.shape == (2000, 3, 2)
    assert set(np.unique(draws[:, :, 0])) <= {0.0, 1.0, 2.0}  # column a only draws from a
    assert set(np.unique(draws[:, :, 1])) <= {10.0, 11.0, 12.0}
    episodes = ScoreTable.from_episodes("x", [[0.0, 1.0], [5.0, 5.0, 5.0]], ["a", "b"], ["d", "d"])
    drawn = bootstrap_score_matrices(episodes, reps=500)
    assert drawn.shape == (500, 1, 2)
    assert set(np.unique(drawn[:, 0, 0])) <= {0.0, 0.5, 1.0}  # means of two draws from {0, 1}
    assert np.all(drawn[:, 0, 1] == 5.0)


def test_intervals_contain_the_point_estimate_and_are_reproducible():
    rng = np.random.default_rng(7)
    matrix = rng.normal([0.2, 0.5, 0.8, 1.1, 0.4, 0.9], 0.15, size=(5, 6))
    table = ScoreTable.from_matrix("agent", matrix, list("abcdef"), ["x"] * 3 + ["y"] * 3)
    rows = aggregate_scores(table, reps=2000, seed=0)
    assert len(rows) == 3 * 4  # all, x, y times four metrics
    for row in rows:
        assert row.estimate.low <= row.estimate.point <= row.estimate.high, row
        assert row.unit == "seed" and row.num_runs == 5
    again = aggregate_scores(table, reps=2000, seed=0)
    assert [r.estimate for r in again] == [r.estimate for r in rows]
    other = aggregate_scores(table, reps=2000, seed=1)
    assert [r.estimate for r in other] != [r.estimate for r in rows]


def test_intervals_shrink_with_more_seeds():
    rng = np.random.default_rng(11)
    means = np.linspace(0.1, 1.4, 8)
    tasks, domains = [f"t{i}" for i in range(8)], ["d"] * 8
    few = ScoreTable.from_matrix("a", rng.normal(means, 0.3, size=(3, 8)), tasks, domains)
    many = ScoreTable.from_matrix("a", rng.normal(means, 0.3, size=(40, 8)), tasks, domains)
    for metric in ("mean", "iqm", "median", "optimality_gap"):
        assert interval_width(many, metric) < 0.6 * interval_width(few, metric), metric


def test_intervals_shrink_with_more_episodes():
    rng = np.random.default_rng(5)
    tasks, domains = ["a", "b", "c"], ["d"] * 3
    few = ScoreTable.from_episodes(
        "a", [rng.normal(m, 0.5, 5) for m in (0, 0.5, 1)], tasks, domains
    )
    many = ScoreTable.from_episodes(
        "a", [rng.normal(m, 0.5, 200) for m in (0, 0.5, 1)], tasks, domains
    )
    assert interval_width(many, "mean") < 0.4 * interval_width(few, "mean")
    low, high = task_intervals(many, reps=500)
    assert np.all(low <= many.task_scores()) and np.all(many.task_scores() <= high)


def test_constant_scores_give_zero_width_intervals():
    table = ScoreTable.from_episodes("a", [[0.5] * 4, [1.0] * 3], ["a", "b"], ["d", "d"])
    for row in aggregate_scores(table, reps=200):
        assert row.estimate.low == pytest.approx(row.estimate.point)
        assert row.estimate.high == pytest.approx(row.estimate.point)


def test_units_say_what_is_resampled():
    episodes = ScoreTable.from_episodes("a", [[0.1, 0.2]], ["t"], ["d"])
    assert episodes.unit == "episode" and episodes.num_runs == 1
    assert "episodes" in episodes.describe_unit()
    assert episodes.score_matrix().shape == (1, 1)
    seeds = ScoreTable.from_matrix("a", np.ones((4, 2)), ["t", "u"], ["d", "d"])
    assert seeds.unit == "seed" and seeds.num_runs == 4 and "seeds" in seeds.describe_unit()


def test_malformed_tables_are_rejected():
    with pytest.raises(ValueError, match="unit"):
        ScoreTable("a", "run", ("t",), ("d",), (np.ones(2),))
    with pytest.raises(ValueError, match="non-empty"):
        ScoreTable.from_episodes("a", [[]], ["t"], ["d"])
    with pytest.raises(ValueError, match="one entry per task"):
        ScoreTable.from_episodes("a", [[1.0]], ["t", "u"], ["d", "d"])
    with pytest.raises(ValueError, match="same number of runs"):
        ScoreTable("a", "seed", ("t", "u"), ("d", "d"), (np.ones(2), np.ones(3)))
    with pytest.raises(ValueError, match="num_runs, num_tasks"):
        ScoreTable.from_matrix("a", np.ones(3), ["t"], ["d"])


# --- non-finite scores ------------------------------------------------------------------------


def test_non_finite_scores_are_rejected_where_a_table_is_built_naming_the_first_one():
    matrix = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, np.nan], [np.inf, 0.5, 0.6]])
    # Column order: task "u" (column 0) holds inf in row 2, task "v" (column 2) NaN in row 1.
    with pytest.raises(GatoEvalError, match=r"'gato'.*non-finite.*inf.*run row 2 of task 'u'"):
        ScoreTable.from_matrix("gato", matrix, ["u", "t", "v"], ["d", "d", "d"])
    with pytest.raises(GatoEvalError, match=r"'gato'.*nan.*episode 1 of task 'b'"):
        ScoreTable.from_episodes("gato", [[0.5], [0.2, np.nan, -np.inf]], ["a", "b"], ["d", "d"])
    with pytest.raises(GatoEvalError, match=r"'x'.*-inf.*run row 0 of task 't'"):
        ScoreTable("x", "seed", ("t",), ("d",), (np.array([-np.inf, 1.0]),))


def test_rliable_propagates_nan_and_we_refuse_it_instead_of_dropping_it():
    from rliable import metrics

    matrix = np.array([[np.nan, 0.1, 0.5, 0.7]])
    assert np.isnan(metrics.aggregate_iqm(matrix))  # rliable: the aggregate is nan
    for function in (aggregate_iqm, aggregate_mean, aggregate_median, aggregate_optimality_gap):
        with pytest.raises(GatoEvalError, match=r"non-finite.*nan.*run row 0, task column 0"):
            function(matrix)


def test_threshold_counts_refuse_a_nan_task_instead_of_counting_it_above_every_threshold():
    with pytest.raises(GatoEvalError, match=r"task_scores\[0\] is nan"):
        count_tasks_at_or_above(np.array([np.nan, 0.1]), np.array([0.0, 0.5, 100.0]))
    with pytest.raises(GatoEvalError, match=r"thresholds\[1\] is nan"):
        count_tasks_at_or_above(np.array([0.1]), np.array([0.0, np.nan]))
    table = ScoreTable.from_matrix("a", np.ones((2, 2)), ["t", "u"], ["d", "d"])
    with pytest.raises(GatoEvalError, match=r"thresholds\[0\] is inf"):
        threshold_curves(table, np.array([np.inf]), reps=10)
