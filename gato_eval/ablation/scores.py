"""Scores of an ablation, recomputed from its run directories: cells and curves (`tables.py`
writes the tables).

Raw episodes are the source of truth (DESIGN.md): every number here is recomputed from the
cells' run directories and the reference runs, never copied from the rows in cells.jsonl.

Reference levels: a task's **random** and **expert** levels are the mean returns of the `random`
and `expert` policies (the project's demonstrator, without noise) evaluated exactly like the
cells (same one-task suite, step caps, episode seeds). Shipped reference scores assume full-length
episodes, which small grids cap, so the ablation measures its own. normalized = (return - random)
/ (expert - random); a task whose expert level is not above its random level is scored in raw
returns only (GATO.md section 4).

Curves (`ablation_panels`): per task, one line per variant over the numbers of demonstrations:
the mean over runs (seeds; with pretraining seeds, every (pretraining seed, fine-tuning seed)
cell) of each run's mean score, with a percentile bootstrap interval over runs
(`scores.stats`); a point with a single run gets an interval over its episodes instead, and
the panel's note says so. Pretrained variants minus scratch: `gato_eval.ablation.comparison`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.ablation.grid import VARIANTS, document_demonstrations
from gato_eval.ablation.records import AblationRecord, read_metadata, read_rows
from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.scoring import collect_task_episodes, ensure_run
from gato_eval.scores.stats import ScoreTable, task_intervals

SCALES = ("auto", "return")


@dataclass(frozen=True)
class TaskLevels:
    """Random and expert mean returns of a task under the grid's evaluation (None if missing)."""

    task: str
    random: float | None
    expert: float | None

    @property
    def normalizable(self) -> bool:
        return self.random is not None and self.expert is not None and self.expert > self.random

    def normalize(self, value: float) -> float:
        return (value - self.random) / (self.expert - self.random)


@dataclass(frozen=True)
class CellScore:
    """One cell (one run of its point), recomputed: returns (ok episodes, episode order) and
    the scores derived."""

    task: str
    variant: str
    n_demos: int
    seed: int
    returns: tuple[float, ...]
    failed: int
    planned: int
    success_rate: float | None
    normalized: float | None
    pretrained: str | None
    checkpoint: str
    checkpoint_sha256: str
    run_dir: str
    pretraining_seed: int | None = None
    job_s: float | None = None  # seconds its job took (fine-tuning, evaluation); None: unrecorded

    @property
    def mean_return(self) -> float | None:
        return float(np.mean(self.returns)) if self.returns else None

    @property
    def std_return(self) -> float | None:
        return float(np.std(self.returns, ddof=1)) if len(self.returns) > 1 else None


@dataclass
class AblationScores:
    """Every finished cell of a results directory, with the tasks' reference levels."""

    path: Path
    name: str
    metadata: dict[str, Any]  # ablation.json as read; `record` is its typed view
    cells: list[CellScore]
    levels: dict[str, TaskLevels] = field(default_factory=dict)

    @property
    def record(self) -> AblationRecord:
        return AblationRecord.from_dict(self.metadata)

    def tasks(self) -> list[str]:
        grid_tasks = list(self.record.grid["tasks"])
        return list(dict.fromkeys([*grid_tasks, *(c.task for c in self.cells)]))

    def variants(self) -> list[str]:
        present = {c.variant for c in self.cells}
        return [v for v in VARIANTS if v in present]

    def demonstration_counts(self, task: str) -> tuple[int, ...]:
        """The task's numbers of demonstrations, fewest first: those the grid lists for it (its
        own `demonstrations`, else the grid's) and any other that a finished cell has."""
        listed = document_demonstrations(self.record.grid, task)
        return tuple(sorted({*listed, *(c.n_demos for c in self.cells if c.task == task)}))


def mean_return(run_dir: Path) -> float | None:
    """The mean return of a one-task run directory's ok episodes (None without any)."""
    (episodes,) = collect_task_episodes(ensure_run(Path(run_dir))).values()
    return float(np.mean(episodes.returns)) if episodes.returns else None


def score_cell_run(run_dir: Path, random: float | None, expert: float | None) -> dict[str, Any]:
    """The scores of a cell's run (what its row records at the time it finishes)."""
    (episodes,) = collect_task_episodes(ensure_run(Path(run_dir))).values()
    levels = TaskLevels(episodes.task, random, expert)
    mean = float(np.mean(episodes.returns)) if episodes.returns else None
    return {
        "episodes": len(episodes.returns),
        "failed": episodes.failed,
        "mean_return": mean,
        "normalized": levels.normalize(mean) if mean is not None and levels.normalizable else None,
        "reference": {"random": random, "expert": expert},
    }


def score_ablation(path: Path) -> AblationScores:
    """Every finished cell of the results directory `path`, recomputed from its runs."""
    path = Path(path)
    metadata = read_metadata(path)
    record = AblationRecord.from_dict(metadata)
    levels = {}
    for task, runs in record.references.items():
        random, expert = (path / run for run in (runs.random, runs.expert))
        levels[task] = TaskLevels(
            task,
            mean_return(random) if random.is_dir() else None,
            mean_return(expert) if expert.is_dir() else None,
        )
    cells = []
    for row in read_rows(path):
        run_dir = path / row["run_dir"]
        if not run_dir.is_dir():
            raise GatoEvalError(
                f"{path}: the run of cell {row['task']} {row['variant']} "
                f"n={row['n_demos']} seed={row['seed']} ({run_dir}) is missing"
            )
        (episodes,) = collect_task_episodes(ensure_run(run_dir)).values()
        task_levels = levels.get(row["task"], TaskLevels(row["task"], None, None))
        mean = float(np.mean(episodes.returns)) if episodes.returns else None
        successes = episodes.successes if episodes.has_success else ()
        cells.append(
            CellScore(
                task=row["task"],
                variant=row["variant"],
                n_demos=int(row["n_demos"]),
                seed=int(row["seed"]),
                returns=episodes.returns,
                failed=episodes.failed,
                planned=episodes.planned,
                success_rate=float(np.mean(successes)) if successes else None,
                normalized=(
                    task_levels.normalize(mean)
                    if mean is not None and task_levels.normalizable
                    else None
                ),
                pretrained=row.get("pretrained"),
                checkpoint=row["checkpoint"],
                checkpoint_sha256=row.get("checkpoint_sha256", ""),
                run_dir=row["run_dir"],
                pretraining_seed=row.get("pretraining_seed"),
                job_s=_job_seconds(row.get("wall_s")),
            )
        )
    return AblationScores(path, record.name(path.name), metadata, cells, levels)


# -- curves -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantCurve:
    """One variant on one task: n_demos, mean, low, high and seeds all have shape (K,)."""

    variant: str
    n_demos: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: np.ndarray


@dataclass(frozen=True)
class TaskPanel:
    """One task's curves in `scale` units ("normalized": fractions of expert; "return"), with
    the random and expert levels in the same units (None where unknown)."""

    task: str
    scale: str
    curves: tuple[VariantCurve, ...]
    random: float | None
    expert: float | None


def ablation_panels(
    scores: AblationScores,
    scale: str = "auto",
    *,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[TaskPanel]:
    """One panel per task with cells (see the module docstring). scale "auto": normalized
    where the task's levels allow it, else returns; "return": returns everywhere."""
    if scale not in SCALES:
        raise GatoEvalError(f"unknown scale {scale!r}: choose {' or '.join(SCALES)}")
    panels = []
    for task in scores.tasks():
        cells = [c for c in scores.cells if c.task == task and c.returns]
        if not cells:
            continue
        levels = scores.levels.get(task, TaskLevels(task, None, None))
        normalized = scale == "auto" and levels.normalizable

        def unit(values, levels=levels, normalized=normalized):
            values = np.asarray(values, dtype=np.float64)
            return levels.normalize(values) if normalized else values

        curves = []
        for variant in scores.variants():
            mine = [c for c in cells if c.variant == variant]
            if not mine:
                continue
            points = sorted({c.n_demos for c in mine})
            stats = [
                _point([c for c in mine if c.n_demos == n], unit, reps, confidence, seed)
                for n in points
            ]
            curves.append(
                VariantCurve(
                    variant=variant,
                    n_demos=np.array(points, dtype=np.int64),
                    mean=np.array([s[0] for s in stats]),
                    low=np.array([s[1] for s in stats]),
                    high=np.array([s[2] for s in stats]),
                    seeds=np.array([s[3] for s in stats], dtype=np.int64),
                )
            )
        panels.append(
            TaskPanel(
                task=task,
                scale="normalized" if normalized else "return",
                curves=tuple(curves),
                random=_level(levels.random, unit),
                expert=_level(levels.expert, unit),
            )
        )
    return panels


def _point(cells: list[CellScore], unit, reps: int, confidence: float, seed: int):
    """(mean over seeds, low, high, number of seeds) of one (task, variant, n) point."""
    per_seed = np.array([unit(c.returns).mean() for c in cells])  # (seeds,)
    if len(cells) >= 2:
        table = ScoreTable("point", "seed", ("point",), ("point",), (per_seed,))
    else:
        table = ScoreTable.from_episodes("point", [unit(cells[0].returns)], ["point"], ["point"])
    low, high = task_intervals(table, reps=reps, confidence=confidence, seed=seed)
    return float(per_seed.mean()), float(low[0]), float(high[0]), len(cells)


def _level(value: float | None, unit) -> float | None:
    return None if value is None else float(unit([value])[0])


def _job_seconds(wall: Any) -> float | None:
    """A row's `wall_s` ({stage: seconds}) summed; None when the row has none."""
    if not isinstance(wall, dict) or not wall:
        return None
    return float(sum(float(v) for v in wall.values()))
