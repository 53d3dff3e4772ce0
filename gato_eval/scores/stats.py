"""Aggregate statistics of normalized scores, with stratified bootstrap confidence intervals.

Conventions are rliable's (Agarwal et al., 2021): a score matrix has shape (num_runs, num_tasks);
mean = mean over tasks of the per-task mean over runs, median = median of those per-task means,
IQM = mean of the middle 50% of all num_runs * num_tasks entries, optimality gap = mean amount by
which the entries fall short of 1.0 (expert). The bootstrap is stratified by task: each task's
samples are resampled with replacement, independently of the other tasks, and the task set stays
fixed. Intervals are percentile intervals.

What is resampled, the *unit*, is always explicit (`ScoreTable.unit`); episodes are never treated
as runs silently:

- unit "seed": several runs (one seed each) of one agent on the same tasks. A run is a seed,
  rliable's meaning; the score matrix is (num_seeds, num_tasks) of per-run task means, and the
  bootstrap resamples seeds within each task. Intervals show seed-to-seed variation.
- unit "episode": one run. The score matrix is (1, num_tasks) of task means over episodes, and
  the bootstrap resamples episodes within each task, then re-averages. Intervals show only the
  episode-to-episode noise of that one run, not what another seed would give.

Threshold counts (GATO.md section 5, Figure 5): y(x) = number of tasks whose mean normalized
score is >= x. rliable's performance profiles use strict >; Gato counts ties. Scores are compared
with a tolerance of THRESHOLD_TOLERANCE so that a score equal to a threshold in exact arithmetic
(0.3 against the grid point 0.30000000000000004) is counted.

Non-finite scores (NaN, +-inf) are refused with a GatoEvalError naming the first one, both where
a table is built and in every public function that takes score arrays: left in, a NaN is dropped
by the IQM's sort (rliable returns nan instead) and sorts above every threshold in the counts, so
a figure would silently show a task that has no score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gato_eval.core.errors import GatoEvalError

UNITS = ("seed", "episode")
METRICS = ("mean", "median", "iqm", "optimality_gap")
METRIC_TITLES = {
    "mean": "mean",
    "median": "median",
    "iqm": "IQM",
    "optimality_gap": "optimality gap",
}
THRESHOLD_TOLERANCE = 1e-9
DEFAULT_REPS = 2000
DEFAULT_CONFIDENCE = 0.95
ALL_DOMAINS = "all"


@dataclass(frozen=True)
class ScoreTable:
    """Normalized scores of one agent on a fixed set of tasks, as the bootstrap resamples them.

    samples[t] is a 1-D array: for unit "seed", shape (num_runs,), task t's mean normalized score
    in each run; for unit "episode", shape (n_t,), the normalized score of each of task t's
    episodes in the one run (n_t may differ between tasks). domains[t] is task t's family.
    """

    label: str
    unit: str
    task_ids: tuple[str, ...]
    domains: tuple[str, ...]
    samples: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, not {self.unit!r}")
        if not len(self.task_ids) == len(self.domains) == len(self.samples):
            raise ValueError("task_ids, domains and samples must have one entry per task")
        for task, values in zip(self.task_ids, self.samples, strict=True):
            if values.ndim != 1 or values.size == 0:
                raise ValueError(f"task {task}: samples must be a non-empty 1-D array")
        if self.unit == "seed" and len({v.size for v in self.samples}) > 1:
            raise ValueError("unit 'seed' needs the same number of runs for every task")
        where = "run row" if self.unit == "seed" else "episode"
        for task, values in zip(self.task_ids, self.samples, strict=True):
            index = _first_non_finite(values)
            if index is not None:
                raise GatoEvalError(
                    f"score table {self.label!r}: non-finite normalized score "
                    f"{values[index]} in {where} {index[0]} of task {task!r}; scores must be "
                    "finite (check that run's returns and the task's reference scores)"
                )

    @classmethod
    def from_matrix(
        cls, label: str, matrix: np.ndarray, task_ids: Sequence[str], domains: Sequence[str]
    ) -> ScoreTable:
        """A unit-"seed" table from an rliable score matrix of shape (num_runs, num_tasks)."""
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError(f"score matrix must be (num_runs, num_tasks), got {matrix.shape}")
        columns = tuple(matrix[:, t].copy() for t in range(matrix.shape[1]))
        return cls(label, "seed", tuple(task_ids), tuple(domains), columns)

    @classmethod
    def from_episodes(
        cls,
        label: str,
        episode_scores: Sequence[Sequence[float]],
        task_ids: Sequence[str],
        domains: Sequence[str],
    ) -> ScoreTable:
        """A unit-"episode" table: episode_scores[t] holds task t's per-episode scores."""
        samples = tuple(np.asarray(s, dtype=np.float64) for s in episode_scores)
        return cls(label, "episode", tuple(task_ids), tuple(domains), samples)

    @property
    def num_tasks(self) -> int:
        return len(self.task_ids)

    @property
    def num_runs(self) -> int:
        return self.samples[0].size if self.unit == "seed" and self.samples else 1

    def score_matrix(self) -> np.ndarray:
        """The (num_runs, num_tasks) matrix the aggregates are computed on."""
        if self.unit == "seed":
            return np.stack(self.samples, axis=1)
        return np.array([[values.mean() for values in self.samples]])

    def task_scores(self) -> np.ndarray:
        """(num_tasks,) mean normalized score of each task (mean over runs or episodes)."""
        return self.score_matrix().mean(axis=0)

    def domain_names(self) -> list[str]:
        """ "all" first, then each domain in order of first appearance."""
        return [ALL_DOMAINS, *dict.fromkeys(self.domains)]

    def domain_columns(self, domain: str) -> np.ndarray:
        """Indices of the tasks of `domain` ("all": every task)."""
        if domain == ALL_DOMAINS:
            return np.arange(self.num_tasks)
        return np.array([t for t, d in enumerate(self.domains) if d == domain], dtype=np.int64)

    def describe_unit(self) -> str:
        """One sentence for legends, figure notes and reports: what the intervals resample."""
        if self.unit == "seed":
            return f"{self.num_runs} runs (seeds); bootstrap over seeds within each task"
        return "1 run; bootstrap over episodes within each task"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap percentile interval."""

    point: float
    low: float
    high: float


@dataclass(frozen=True)
class AggregateRow:
    """One metric on one domain of one table."""

    label: str
    domain: str
    metric: str
    estimate: Estimate
    num_tasks: int
    num_runs: int
    unit: str


@dataclass(frozen=True)
class DomainCurve:
    """y(x) for one domain: counts, low and high have shape (num_thresholds,)."""

    counts: np.ndarray
    low: np.ndarray
    high: np.ndarray
    num_tasks: int


@dataclass(frozen=True)
class ThresholdCurves:
    """Figure 5 numbers for one table: thresholds (num_thresholds,) and one curve per domain."""

    label: str
    unit: str
    num_runs: int
    thresholds: np.ndarray
    domains: dict[str, DomainCurve] = field(default_factory=dict)
    confidence: float = DEFAULT_CONFIDENCE
    unit_note: str = ""


def _first_non_finite(values: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN or +-inf entry of `values` (row-major order), or None."""
    bad = ~np.isfinite(values)
    return tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None


def check_finite_scores(scores: np.ndarray) -> np.ndarray:
    """`scores` (..., num_runs, num_tasks) as float64, or a GatoEvalError naming the first
    non-finite entry by its run row and task column (and leading index, for stacked draws)."""
    scores = np.asarray(scores, dtype=np.float64)
    index = _first_non_finite(scores)
    if index is not None:
        where = f"index {index}"
        if scores.ndim >= 2:
            where = f"run row {index[-2]}, task column {index[-1]}"
            where += f" of draw {index[:-2]}" if scores.ndim > 2 else ""
        raise GatoEvalError(
            f"score matrix: non-finite score {scores[index]} at {where}; "
            "aggregates need finite normalized scores"
        )
    return scores


def aggregate_mean(scores: np.ndarray) -> np.ndarray:
    """(..., num_runs, num_tasks) -> (...): mean over tasks of the per-task mean."""
    scores = check_finite_scores(scores)
    return scores.mean(axis=-2).mean(axis=-1)


def aggregate_median(scores: np.ndarray) -> np.ndarray:
    """(..., num_runs, num_tasks) -> (...): median over tasks of the per-task mean."""
    scores = check_finite_scores(scores)
    return np.median(scores.mean(axis=-2), axis=-1)


def aggregate_iqm(scores: np.ndarray) -> np.ndarray:
    """(..., num_runs, num_tasks) -> (...): interquartile mean of all run x task entries.

    Trims int(0.25 * n) entries from each end of the n = num_runs * num_tasks sorted entries,
    as scipy.stats.trim_mean (and so rliable) does.
    """
    scores = check_finite_scores(scores)
    flat = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)
    n = flat.shape[-1]
    cut = int(0.25 * n)
    return flat[..., cut : n - cut].mean(axis=-1)


def aggregate_optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """(..., num_runs, num_tasks) -> (...): gamma minus the mean of min(entry, gamma)."""
    scores = check_finite_scores(scores)
    return gamma - np.minimum(scores, gamma).mean(axis=(-2, -1))


AGGREGATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": aggregate_mean,
    "median": aggregate_median,
    "iqm": aggregate_iqm,
    "optimality_gap": aggregate_optimality_gap,
}


def bootstrap_score_matrices(
    table: ScoreTable, reps: int = DEFAULT_REPS, seed: int = 0
) -> np.ndarray:
    """(reps, num_runs, num_tasks): score matrices resampled within each task (see module doc).

    Unit "seed": each task's column of runs is resampled with replacement. Unit "episode": each
    task's episodes are resampled with replacement (as many as it has) and averaged.
    """
    if reps < 1:
        raise ValueError("reps must be at least 1")
    rng = np.random.default_rng(seed)
    if table.unit == "seed":
        matrix = table.score_matrix()  # (R, T)
        runs, tasks = matrix.shape
        rows = rng.integers(runs, size=(reps, runs, tasks))  # (reps, R, T)
        return matrix[rows, np.arange(tasks)]
    out = np.empty((reps, 1, table.num_tasks))
    for t, values in enumerate(table.samples):
        picks = rng.integers(values.size, size=(reps, values.size))  # (reps, n_t)
        out[:, 0, t] = values[picks].mean(axis=1)
    return out


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval over axis 0 of `draws` (reps, ...) -> (low, high)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(draws, [tail, 100.0 - tail], axis=0)
    return low, high


def aggregate_scores(
    table: ScoreTable,
    metrics: Sequence[str] = METRICS,
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> list[AggregateRow]:
    """Every metric on "all" and on each domain, with intervals from one shared bootstrap.

    Subsetting the draws by domain equals bootstrapping the domain alone, because the
    resampling is independent per task.
    """
    draws = bootstrap_score_matrices(table, reps, seed)
    matrix = table.score_matrix()
    rows = []
    for domain in table.domain_names():
        columns = table.domain_columns(domain)
        for metric in metrics:
            function = AGGREGATES[metric]
            low, high = percentile_interval(function(draws[..., columns]), confidence)
            point = float(function(matrix[:, columns]))
            rows.append(
                AggregateRow(
                    label=table.label,
                    domain=domain,
                    metric=metric,
                    estimate=Estimate(point, float(low), float(high)),
                    num_tasks=int(columns.size),
                    num_runs=table.num_runs,
                    unit=table.unit,
                )
            )
    return rows


def default_thresholds(stop: float = 2.0, step: float = 0.01) -> np.ndarray:
    """(num_thresholds,) thresholds 0, step, ..., stop as fractions of expert (0..200%)."""
    count = round(stop / step) + 1
    return np.round(np.linspace(0.0, stop, count), 12)


def count_tasks_at_or_above(task_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(num_thresholds,) number of tasks whose score is >= each threshold (ties count).

    task_scores: (num_tasks,) mean normalized scores; thresholds: (num_thresholds,). A NaN
    would sort last and so count as above every threshold: non-finite values are refused.
    """
    task_scores = np.asarray(task_scores, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    for name, values in (("task_scores", task_scores), ("thresholds", thresholds)):
        index = _first_non_finite(values)
        if index is not None:
            raise GatoEvalError(
                f"threshold counts: {name}[{', '.join(map(str, index))}] is {values[index]}; "
                "scores and thresholds must be finite"
            )
    ordered = np.sort(task_scores)
    below = np.searchsorted(ordered, thresholds - THRESHOLD_TOLERANCE, side="left")
    return ordered.size - below


def threshold_curves(
    table: ScoreTable,
    thresholds: np.ndarray | None = None,
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> ThresholdCurves:
    """Figure 5 for one table: y(x) per domain and "all", with percentile bootstrap bands."""
    thresholds = default_thresholds() if thresholds is None else np.asarray(thresholds, float)
    draws = bootstrap_score_matrices(table, reps, seed).mean(axis=1)  # (reps, T) task means
    task_scores = table.task_scores()
    curves = {}
    for domain in table.domain_names():
        columns = table.domain_columns(domain)
        counts = count_tasks_at_or_above(task_scores[columns], thresholds)
        drawn = np.stack([count_tasks_at_or_above(d[columns], thresholds) for d in draws])
        low, high = percentile_interval(drawn, confidence)  # (K,) each
        curves[domain] = DomainCurve(counts, low, high, int(columns.size))
    return ThresholdCurves(
        label=table.label,
        unit=table.unit,
        num_runs=table.num_runs,
        thresholds=thresholds,
        domains=curves,
        confidence=confidence,
        unit_note=table.describe_unit(),
    )


def task_intervals(
    table: ScoreTable,
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(num_tasks,) low and high bootstrap bounds of each task's mean normalized score."""
    draws = bootstrap_score_matrices(table, reps, seed).mean(axis=1)  # (reps, T)
    return percentile_interval(draws, confidence)
