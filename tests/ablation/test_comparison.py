"""Pretrained minus scratch: rliable's probability of improvement, bootstrap intervals over runs
on hand-computable cases, the tables and the figure's difference row (no training needed: the
scores are built from returns directly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gato_eval.ablation.comparison import (
    ALL_TASKS,
    compare_to_scratch,
    probability_of_improvement,
)
from gato_eval.ablation.scores import AblationScores, CellScore, TaskLevels


def cell(task, variant, n, seed, returns, pretraining_seed=None) -> CellScore:
    return CellScore(
        task=task, variant=variant, n_demos=n, seed=seed, returns=tuple(returns), failed=0,
        planned=len(returns), success_rate=None, normalized=None, pretrained=None,
        checkpoint="model", checkpoint_sha256="", run_dir="run",
        pretraining_seed=pretraining_seed,
    )  # fmt: skip


def scores_of(cells, levels, tasks, **grid) -> AblationScores:
    metadata = {"grid": {"tasks": list(tasks), "name": "t", **grid}}
    return AblationScores(Path("."), "t", metadata, list(cells), levels)


@pytest.mark.parametrize("seed", range(6))
def test_probability_of_improvement_equals_rliable(seed):
    from rliable import metrics

    rng = np.random.default_rng(seed)
    runs_x, runs_y, tasks = rng.integers(1, 6), rng.integers(1, 6), rng.integers(1, 5)
    # Small integers: many ties, which count one half in both.
    x = rng.integers(0, 4, size=(runs_x, tasks)).astype(float)
    y = rng.integers(0, 4, size=(runs_y, tasks)).astype(float)
    assert probability_of_improvement(x, y) == pytest.approx(
        metrics.probability_of_improvement(x, y)
    )


def test_probability_of_improvement_by_hand():
    x = np.array([[0.0], [1.0]])
    y = np.array([[0.0], [0.0]])
    # Pairs: 0 vs 0 (tie, 1/2) twice, 1 vs 0 (win) twice -> 3/4.
    assert probability_of_improvement(x, y) == pytest.approx(0.75)
    assert probability_of_improvement(y, x) == pytest.approx(0.25)
    assert probability_of_improvement(x, x) == pytest.approx(0.5)


def test_difference_and_improvement_intervals_by_hand():
    levels = {"a": TaskLevels("a", 0.0, 10.0)}  # normalized = return / 10
    cells = [
        cell("a", "all", 5, 0, [0.0, 0.0]),
        cell("a", "all", 5, 1, [10.0, 10.0]),  # runs 0 and 1 (normalized)
        cell("a", "scratch", 5, 0, [0.0]),
        cell("a", "scratch", 5, 1, [0.0]),  # runs 0 and 0
    ]
    (row,) = compare_to_scratch(scores_of(cells, levels, ["a"]), reps=4000)
    assert (row.task, row.variant, row.n_demos, row.scale) == ("a", "all", 5, "normalized")
    assert (row.runs, row.scratch_runs) == (2, 2)
    # Resampling two runs {0, 1}: mean 0 (p 1/4), 1/2 (p 1/2), 1 (p 1/4); scratch stays 0.
    d = row.difference
    assert (d.point, d.low, d.high) == (0.5, 0.0, 1.0)
    # P(X > Y) of a resample: {0,0} -> 1/2, mixed -> 3/4, {1,1} -> 1.
    p = row.improvement
    assert (p.point, p.low, p.high) == (0.75, 0.5, 1.0)


def test_constant_sides_have_exact_intervals_and_returns_are_not_normalized():
    levels = {"b": TaskLevels("b", 5.0, 5.0)}  # expert not above random: returns only
    cells = [cell("b", "no-control", 1, s, [3.0, 5.0]) for s in range(3)]
    cells += [cell("b", "scratch", 1, s, [1.0]) for s in range(3)]
    (row,) = compare_to_scratch(scores_of(cells, levels, ["b"]))
    assert row.scale == "return" and row.runs == 3 and row.scratch_runs == 3
    assert (row.difference.point, row.difference.low, row.difference.high) == (3.0, 3.0, 3.0)
    assert (row.improvement.point, row.improvement.low, row.improvement.high) == (1.0, 1.0, 1.0)


def test_points_with_one_run_a_side_are_not_compared_and_tasks_are_averaged():
    levels = {t: TaskLevels(t, 0.0, 1.0) for t in ("a", "b", "c")}
    cells = []
    for task, gain in (("a", 0.2), ("b", 0.4)):
        for seed in range(3):
            for p in range(2):  # crossed pretraining seeds: 6 runs of the variant
                cells.append(cell(task, "all", 4, seed, [0.5 + gain + 0.01 * p], p))
            cells.append(cell(task, "scratch", 4, seed, [0.5 + 0.01 * seed]))
    cells += [cell("c", "all", 4, 0, [1.0], 0), cell("c", "scratch", 4, 0, [0.0])]
    rows = compare_to_scratch(scores_of(cells, levels, ["a", "b", "c"]))
    by_task = {r.task: r for r in rows}
    assert set(by_task) == {"a", "b", ALL_TASKS}  # c has one run a side
    assert by_task["a"].runs == 6 and by_task["a"].scratch_runs == 3
    overall = by_task[ALL_TASKS]
    assert overall.tasks == 2 and overall.scale == "normalized"
    expected = np.mean([by_task[t].difference.point for t in "ab"])
    assert overall.difference.point == pytest.approx(expected)
    assert overall.improvement.point == 1.0  # every variant run beats every scratch run
    assert overall.difference.low <= overall.difference.point <= overall.difference.high


def test_tasks_with_their_own_counts_are_pooled_by_rank_not_by_equal_n():
    # a: 1 and 4 demonstrations; b: 4 and 16. Pooling equal n would pool a's most (4) with
    # b's fewest (4); by rank, a's 1 goes with b's 4 and a's 4 with b's 16.
    levels = {t: TaskLevels(t, 0.0, 1.0) for t in ("a", "b")}
    counts = {"a": (1, 4), "b": (4, 16)}
    gains = {("a", 1): 0.1, ("a", 4): 0.3, ("b", 4): 0.2, ("b", 16): 0.6}
    cells = [
        cell(task, variant, n, seed, [0.5 * seed / 2 + (variant == "all") * gains[(task, n)]])
        for task in counts for n in counts[task] for variant in ("all", "scratch")
        for seed in range(3)
    ]  # fmt: skip
    grid = {"demonstrations": [1, 4], "heldout_data": {"a": {}, "b": {"demonstrations": [4, 16]}}}
    rows = compare_to_scratch(scores_of(cells, levels, ["a", "b"], **grid))
    pooled = [r for r in rows if r.task == ALL_TASKS]
    assert [(r.rank, r.n_demos, r.demos_range, r.tasks) for r in pooled] == [
        (1, None, (1, 4), 2), (2, None, (4, 16), 2),
    ]  # fmt: skip
    assert [r.difference.point for r in pooled] == pytest.approx([0.15, 0.45])
    assert [r.demos_label for r in pooled] == ["#1: 1-4", "#2: 4-16"]
    per_task = {(r.task, r.n_demos): r.rank for r in rows if r.task != ALL_TASKS}
    assert per_task == {("a", 1): 1, ("a", 4): 2, ("b", 4): 1, ("b", 16): 2}

    from gato_eval.ablation.tables import comparison_csv, comparison_markdown

    csv_rows = comparison_csv(rows).splitlines()
    assert any(row.startswith("all tasks,all,,1,normalized,3,3,0.15,") for row in csv_rows)
    assert "| all tasks (2) | all | #1: 1-4 | 3 (3) | +15.0 pp [" in "\n".join(
        comparison_markdown(rows)
    )

    # A task whose only finished runs are at its largest count still ranks them as its largest
    # (ranks come from the grid, not from what has finished): nothing pools them with a's 1.
    partial = [c for c in cells if not (c.task == "b" and c.n_demos == 4)]
    pooled = [r for r in compare_to_scratch(scores_of(partial, levels, ["a", "b"], **grid))
              if r.task == ALL_TASKS]  # fmt: skip
    assert [(r.rank, r.demos_range) for r in pooled] == [(2, (4, 16))]

    # Tasks with one set of counts pool equal n, as always, and show it.
    same = [c for c in cells if c.task == "a"]
    same += [cell("b", c.variant, c.n_demos, c.seed, c.returns) for c in same]
    shared = scores_of(same, levels, ["a", "b"], demonstrations=[1, 4])
    pooled = [r for r in compare_to_scratch(shared) if r.task == ALL_TASKS]
    assert [(r.n_demos, r.rank, r.demos_label) for r in pooled] == [(1, 1, "1"), (4, 2, "4")]


def test_tables_and_figure_show_the_comparison():
    from gato_eval.ablation.plotting import plot_ablation
    from gato_eval.ablation.scores import ablation_panels
    from gato_eval.ablation.tables import comparison_csv, comparison_markdown

    levels = {"a": TaskLevels("a", 0.0, 10.0)}
    cells = [cell("a", v, n, s, [float(s + (v == "all") * 3)]) for v in ("all", "scratch")
             for n in (1, 4) for s in range(3)]  # fmt: skip
    scores = scores_of(cells, levels, ["a"])
    rows = compare_to_scratch(scores)
    text = comparison_csv(rows).splitlines()
    assert text[0].startswith("task,variant,n_demos,demos_rank,scale,runs,scratch_runs,difference")
    assert text[1].startswith("a,all,1,1,normalized,3,3,0.3,")
    markdown = "\n".join(comparison_markdown(rows))
    assert "| a | all | 1 | 3 (3) | +30.0 pp [" in markdown

    figure = plot_ablation(ablation_panels(scores), comparisons=rows)
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert len(visible) == 2  # the scores and, below them, the difference panel
    lines = {line.get_gid(): line for line in visible[1].get_lines()}
    assert list(lines["a|all|difference"].get_ydata()) == pytest.approx([30.0, 30.0])
    assert list(lines["a|zero"].get_ydata()) == [0.0, 0.0]
    gids = {c.get_gid() for c in visible[1].collections}
    assert "a|all|difference|band" in gids
