"""The ablation's tables: results.csv (one row per cell), comparison.csv (each pretrained
variant minus scratch, `comparison.py`) and results.md (reference levels, a task x variant x
demonstrations summary, the comparison, every cell), from `scores.score_ablation`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.ablation.comparison import ALL_TASKS, MIN_RUNS, Comparison, compare_to_scratch
from gato_eval.ablation.grid import cell_key, grid_cells
from gato_eval.ablation.scores import AblationScores, CellScore, TaskLevels
from gato_eval.core.durable import write_text_atomic

TABLE_CSV = "results.csv"
TABLE_MARKDOWN = "results.md"
TABLE_COMPARISON = "comparison.csv"
CSV_COLUMNS = (
    "task",
    "variant",
    "n_demos",
    "seed",
    "pretraining_seed",
    "episodes",
    "failed",
    "mean_return",
    "std_return",
    "success_rate",
    "normalized",
    "random",
    "expert",
    "pretrained",
    "checkpoint",
    "checkpoint_sha256",
    "run_dir",
)
COMPARISON_COLUMNS = (
    "task",
    "variant",
    "n_demos",
    "demos_rank",
    "scale",
    "runs",
    "scratch_runs",
    "difference",
    "difference_low",
    "difference_high",
    "probability_of_improvement",
    "improvement_low",
    "improvement_high",
)


def write_tables(path: Path, scores: AblationScores) -> tuple[Path, Path, Path]:
    """Write results.csv (one row per cell), comparison.csv and results.md atomically."""
    path = Path(path)
    comparisons = compare_to_scratch(scores)
    written = (path / TABLE_CSV, path / TABLE_COMPARISON, path / TABLE_MARKDOWN)
    write_text_atomic(written[0], cells_csv(scores))
    write_text_atomic(written[1], comparison_csv(comparisons))
    write_text_atomic(written[2], markdown_report(scores, comparisons))
    return written


def _job_time(scores: AblationScores) -> list[str]:
    """A line with the time the jobs recorded: pretraining (models trained here) and cells."""
    models = [
        float(entry["wall_s"])
        for entry in scores.metadata.get("pretrained", {}).values()
        if entry.get("trained_here") and entry.get("wall_s") is not None
    ]
    cells = [c.job_s for c in scores.cells if c.job_s is not None]
    if not models and not cells:
        return []
    return [
        f"Job time recorded: pretraining {len(models)} model(s) {sum(models) / 3600:.2f} h, "
        f"{len(cells)} cell(s) {sum(cells) / 3600:.2f} h (fine-tuning and evaluation); each "
        "job on its own threads, so with `--workers N` jobs overlap and the wall time is shorter."
    ]


def comparison_csv(comparisons: list[Comparison]) -> str:
    """One row per comparison: differences in the row's scale (normalized: fractions of
    expert), probabilities of improvement in [0, 1], with 95% bootstrap bounds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COMPARISON_COLUMNS)
    for c in comparisons:
        d = c.difference
        values = (
            c.task, c.variant, c.n_demos, c.rank, c.scale, c.runs, c.scratch_runs,
            *((d.point, d.low, d.high) if d is not None else (None, None, None)),
            c.improvement.point, c.improvement.low, c.improvement.high,
        )  # fmt: skip
        writer.writerow([_csv_value(v) for v in values])
    return buffer.getvalue()


def _ordered(scores: AblationScores) -> list[CellScore]:
    tasks, variants = scores.tasks(), scores.variants()
    return sorted(
        scores.cells,
        key=lambda c: (tasks.index(c.task), variants.index(c.variant), c.n_demos, c.seed),
    )


def cells_csv(scores: AblationScores) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cell in _ordered(scores):
        levels = scores.levels.get(cell.task)
        values = {
            **{name: getattr(cell, name) for name in ("task", "variant", "n_demos", "seed")},
            "pretraining_seed": cell.pretraining_seed,
            "episodes": len(cell.returns),
            "failed": cell.failed,
            "mean_return": cell.mean_return,
            "std_return": cell.std_return,
            "success_rate": cell.success_rate,
            "normalized": cell.normalized,
            "random": levels.random if levels else None,
            "expert": levels.expert if levels else None,
            "pretrained": cell.pretrained or "",
            "checkpoint": cell.checkpoint,
            "checkpoint_sha256": cell.checkpoint_sha256,
            "run_dir": cell.run_dir,
        }
        writer.writerow([_csv_value(values[name]) for name in CSV_COLUMNS])
    return buffer.getvalue()


def markdown_report(scores: AblationScores, comparisons: list[Comparison] | None = None) -> str:
    """The results as markdown: references, a task x variant x demonstrations summary (mean
    over runs), each pretrained variant minus scratch, and every cell."""
    record = scores.record
    code = record.code
    keys = {cell.key for cell in grid_cells(record.grid)}
    total = len(keys)
    in_grid = sum(
        1
        for c in scores.cells
        if cell_key(c.task, c.variant, c.n_demos, c.seed, c.pretraining_seed) in keys
    )
    # A directory keeps the cells of earlier, larger axes (a grid may shrink): say so, and
    # count them apart from the current grid's.
    extra = len(scores.cells) - in_grid
    beyond = f" (and {extra} more from earlier axes of this directory)" if extra else ""
    lines = [
        f"# Fine-tuning ablation: {scores.name}",
        "",
        f"{in_grid} of {total} cells finished{beyond}. Grid: "
        f"`{record.grid_source}`;"
        f" gato-eval {code.code_version}, git {str(code.git_revision)[:12]}"
        f"{' (dirty)' if code.git_dirty else ''}.",
        "Scores are recomputed from the run directories; normalized = (return - random) / "
        "(expert - random), with the random and expert policies evaluated exactly like the cells.",
        *_job_time(scores),
        "",
        "## Reference levels (mean return under the grid's evaluation)",
        "",
        "| task | random | expert |",
        "|---|---:|---:|",
    ]
    for task in scores.tasks():
        levels = scores.levels.get(task)
        if levels is not None:
            lines.append(f"| {task} | {_fmt(levels.random)} | {_fmt(levels.expert)} |")
    lines += ["", "## Summary: mean over runs", ""]
    for task in scores.tasks():
        cells = [c for c in scores.cells if c.task == task]
        if not cells:
            continue
        demos = sorted({c.n_demos for c in cells})  # tasks may have their own counts
        normalized = scores.levels.get(task, TaskLevels(task, None, None)).normalizable
        unit = "normalized score, % of expert" if normalized else "mean return"
        lines += [f"**{task}** ({unit}; runs per point in brackets)", ""]
        lines.append("| variant | " + " | ".join(f"{n} demos" for n in demos) + " |")
        lines.append("|---|" + "---:|" * len(demos))
        for variant in scores.variants():
            entries = []
            for n in demos:
                values = [
                    (100 * c.normalized if normalized else c.mean_return)
                    for c in cells
                    if c.variant == variant and c.n_demos == n
                ]
                values = [v for v in values if v is not None]
                entries.append(f"{_fmt(float(np.mean(values)))} [{len(values)}]" if values else "")
            lines.append(f"| {variant} | " + " | ".join(entries) + " |")
        lines.append("")
    comparisons = compare_to_scratch(scores) if comparisons is None else comparisons
    lines += comparison_markdown(comparisons)
    lines += [
        "## Cells",
        "",
        "| task | variant | demos | seed | pretraining seed | episodes | mean return | normalized "
        "| checkpoint | run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for cell in _ordered(scores):
        normalized = "-" if cell.normalized is None else f"{100 * cell.normalized:.1f}%"
        failed = f" ({cell.failed} failed)" if cell.failed else ""
        pretraining_seed = "-" if cell.pretraining_seed is None else cell.pretraining_seed
        lines.append(
            f"| {cell.task} | {cell.variant} | {cell.n_demos} | {cell.seed} | "
            f"{pretraining_seed} | "
            f"{len(cell.returns)}{failed} | {_fmt(cell.mean_return)} | {normalized} | "
            f"`{cell.checkpoint}` ({cell.checkpoint_sha256[:19]}) | `{cell.run_dir}` |"
        )
    return "\n".join(lines) + "\n"


def comparison_markdown(comparisons: list[Comparison]) -> list[str]:
    """The comparison section of results.md (lines)."""
    lines = [
        "## Pretrained minus scratch",
        "",
        "Per task and number of demonstrations: the variant's mean over runs minus scratch's "
        "(normalized tasks: percentage points of expert; others: return), with a 95% bootstrap "
        "interval over runs (each side resampled independently), and P(variant > scratch), "
        "rliable's probability of improvement (Mann-Whitney U / (runs x scratch runs); "
        f"'{ALL_TASKS}': averaged over tasks; where tasks have their own numbers of "
        "demonstrations, the row pools each task's k-th count, shown as '#k: fewest-most'). "
        f"Points with fewer than {MIN_RUNS} runs on either side are not compared.",
        "",
    ]
    if not comparisons:
        return [*lines, f"No point has {MIN_RUNS} or more runs of scratch and a variant yet.", ""]
    lines += [
        "| task | variant | demos | runs (scratch) | difference [95% CI] | P(variant > scratch) "
        "[95% CI] |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for c in comparisons:
        # Normalized: percentage points of expert, one decimal; returns: 4 significant digits.
        factor, unit, form = (100.0, " pp", "+.1f") if c.scale == "normalized" else (1, "", "+.4g")
        d = c.difference
        difference = (
            "- (tasks in different units)"
            if d is None
            else f"{factor * d.point:{form}}{unit} "
            f"[{factor * d.low:{form}}, {factor * d.high:{form}}]"
        )
        p = c.improvement
        task = c.task if c.task != ALL_TASKS else f"{ALL_TASKS} ({c.tasks})"
        lines.append(
            f"| {task} | {c.variant} | {c.demos_label} | {c.runs} ({c.scratch_runs}) "
            f"| {difference} | {p.point:.2f} [{p.low:.2f}, {p.high:.2f}] |"
        )
    return [*lines, ""]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
