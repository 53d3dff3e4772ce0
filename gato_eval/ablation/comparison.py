"""Does pretraining help? Each pretrained variant minus scratch, with intervals over runs.

For a held-out task, a number of demonstrations n and a pretrained variant V, let X be the
scores of V's runs at (task, n) and Y those of scratch's runs there (a run is one cell: its
fine-tuning seed and, in a grid with pretraining seeds, its pretraining seed; its score is the
mean over its evaluation episodes, normalized where the task's random and expert levels allow,
else its mean return, as in `scores.ablation_panels`):

- **difference** = mean(X) - mean(Y), with a percentile bootstrap interval: X's runs and Y's
  runs are resampled independently (`gato_eval.scores.stats.bootstrap_score_matrices` on each side),
  which is rliable's stratified independent bootstrap for two algorithms;
- **probability of improvement** P(X > Y) = U / (|X| |Y|), U the Mann-Whitney statistic (a tie
  counts one half): rliable's `metrics.probability_of_improvement`, with an interval from the
  same draws.

The "all tasks" row of (V, n) averages over the tasks compared: the probabilities of
improvement (rliable's average over tasks), and the differences where every task is normalized
(returns of different tasks do not add up). When the tasks have their own numbers of
demonstrations (a grid's per-task `demonstrations`, e.g. 16-256 for a BabyAI level and 4-64 for
a DMC task), pooling equal n would pool one task's fewest with another's most; so when every task
has as many counts, the row pools each task's k-th count instead (its `rank` k, fewest = 1, and
`n_demos` None where the counts differ), and otherwise equal n as before.

A comparison needs at least two runs on each side: with one, a bootstrap over runs has nothing
to resample and P(X > Y) is 0, 1/2 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gato_eval.ablation.scores import SCALES, AblationScores, TaskLevels
from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REPS,
    Estimate,
    ScoreTable,
    bootstrap_score_matrices,
    percentile_interval,
)

BASELINE = "scratch"
ALL_TASKS = "all tasks"
MIN_RUNS = 2


@dataclass(frozen=True)
class Comparison:
    """Variant minus scratch at one (task, n); task ALL_TASKS: the average over tasks.
    difference is None for an all-tasks row whose tasks are not all normalized."""

    task: str
    variant: str
    n_demos: int | None  # None: an all-tasks row pooling different counts of the same rank
    scale: str  # "normalized" (fractions of expert), "return", or "mixed" (all-tasks row)
    runs: int  # runs of the variant (all-tasks row: the fewest over its tasks)
    scratch_runs: int
    difference: Estimate | None
    improvement: Estimate
    tasks: int = 1
    rank: int | None = None  # n's position among the task's counts, fewest = 1 (None: pooled
    # by n over tasks whose counts rank differently)
    demos_range: tuple[int, int] | None = None  # (fewest, most) n of the tasks pooled

    @property
    def demos_label(self) -> str:
        """n, or for a row pooling different counts '#rank: fewest-most'."""
        if self.n_demos is not None:
            return str(self.n_demos)
        low, high = self.demos_range or (0, 0)
        return f"#{self.rank}: {low}-{high}"


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) averaged over tasks, rliable's definition.

    x: (..., runs_x, num_tasks), y: (..., runs_y, num_tasks) -> (...): for each task,
    U / (runs_x * runs_y) with U the Mann-Whitney statistic of x's column over y's (a tie counts
    one half), then the mean over tasks. Leading axes are bootstrap draws.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    greater = x[..., :, None, :] > y[..., None, :, :]  # (..., runs_x, runs_y, T)
    ties = x[..., :, None, :] == y[..., None, :, :]
    per_task = (greater + 0.5 * ties).mean(axis=(-3, -2))  # (..., T)
    return per_task.mean(axis=-1)


def compare_to_scratch(
    scores: AblationScores,
    scale: str = "auto",
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> list[Comparison]:
    """Every (task, n, variant) comparison the finished cells allow, then the all-tasks rows
    (see the module docstring). scale as in `scores.ablation_panels`."""
    if scale not in SCALES:
        raise GatoEvalError(f"unknown scale {scale!r}: choose {' or '.join(SCALES)}")
    rows: list[Comparison] = []
    draws: dict[tuple[str, int], list[tuple[str, np.ndarray, np.ndarray]]] = {}
    counts = {task: scores.demonstration_counts(task) for task in scores.tasks()}
    by_rank = len({len(c) for c in counts.values()}) == 1  # see the module docstring
    variants = [v for v in scores.variants() if v != BASELINE]
    stream = 0  # each bootstrap gets its own seed, so that no two sides share their draws
    for task in scores.tasks():
        levels = scores.levels.get(task, TaskLevels(task, None, None))
        normalized = scale == "auto" and levels.normalizable
        for n in sorted({c.n_demos for c in scores.cells if c.task == task}):
            y = _run_scores(scores, task, BASELINE, n, levels, normalized)
            for variant in variants:
                x = _run_scores(scores, task, variant, n, levels, normalized)
                if min(x.size, y.size) < MIN_RUNS:
                    continue
                x_draws = _bootstrap_means(x, task, reps, seed + stream)  # (reps, runs_x)
                y_draws = _bootstrap_means(y, task, reps, seed + stream + 1)
                stream += 2
                difference = x_draws.mean(axis=1) - y_draws.mean(axis=1)  # (reps,)
                improvement = probability_of_improvement(x_draws[..., None], y_draws[..., None])
                rows.append(
                    Comparison(
                        task=task,
                        variant=variant,
                        n_demos=n,
                        scale="normalized" if normalized else "return",
                        runs=x.size,
                        scratch_runs=y.size,
                        difference=_estimate(
                            x.mean() - y.mean(), difference, confidence, percentile_interval
                        ),
                        improvement=_estimate(
                            probability_of_improvement(x[:, None], y[:, None]),
                            improvement,
                            confidence,
                            percentile_interval,
                        ),
                        rank=counts[task].index(n) + 1,
                        demos_range=(n, n),
                    )
                )
                scale_name = "normalized" if normalized else "return"
                pool = counts[task].index(n) + 1 if by_rank else n
                draws.setdefault((variant, pool), []).append((scale_name, difference, improvement))
    for variant in variants:
        for pool in sorted({pool for v, pool in draws if v == variant}):
            if len(draws[(variant, pool)]) >= 2:  # one task: its own row says it all
                mine = [
                    r
                    for r in rows
                    if r.variant == variant and (r.rank if by_rank else r.n_demos) == pool
                ]
                rows.append(_over_tasks(mine, draws[(variant, pool)], variant, confidence))
    return rows


def _run_scores(scores, task, variant, n, levels, normalized) -> np.ndarray:
    """(runs,) each run's mean score over its episodes at (task, variant, n)."""
    cells = [
        c
        for c in scores.cells
        if c.task == task and c.variant == variant and c.n_demos == n and c.returns
    ]
    values = np.array([np.mean(c.returns) for c in cells], dtype=np.float64)
    return levels.normalize(values) if normalized else values


def _bootstrap_means(values: np.ndarray, task: str, reps: int, seed: int) -> np.ndarray:
    """(reps, runs) resampled runs of one side, through the project's one bootstrap."""
    table = ScoreTable.from_matrix("runs", values[:, None], (task,), (task,))
    return bootstrap_score_matrices(table, reps, seed)[..., 0]


def _estimate(point, draws: np.ndarray, confidence: float, interval) -> Estimate:
    low, high = interval(draws, confidence)
    return Estimate(float(point), float(low), float(high))


def _over_tasks(mine: list[Comparison], entries, variant: str, confidence: float) -> Comparison:
    """The all-tasks row pooling the per-task rows `mine` (one a task, same variant, same n or
    same rank): means over its tasks of the points and the draws."""
    demos = {r.n_demos for r in mine}
    ranks = {r.rank for r in mine}
    improvement = np.mean([draw for _, _, draw in entries], axis=0)  # (reps,)
    point = float(np.mean([r.improvement.point for r in mine]))
    normalized = all(scale == "normalized" for scale, _, _ in entries)
    difference = None
    if normalized:
        drawn = np.mean([draw for _, draw, _ in entries], axis=0)
        point_difference = float(np.mean([r.difference.point for r in mine]))
        difference = _estimate(point_difference, drawn, confidence, percentile_interval)
    return Comparison(
        task=ALL_TASKS,
        variant=variant,
        n_demos=demos.pop() if len(demos) == 1 else None,
        scale="normalized" if normalized else "mixed",
        runs=min(r.runs for r in mine),
        scratch_runs=min(r.scratch_runs for r in mine),
        difference=difference,
        improvement=_estimate(point, improvement, confidence, percentile_interval),
        tasks=len(mine),
        rank=ranks.pop() if len(ranks) == 1 else None,
        demos_range=(min(r.n_demos for r in mine), max(r.n_demos for r in mine)),
    )
