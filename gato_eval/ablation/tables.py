"""The ablation's tables: results.csv (one row per cell) and results.md (reference levels, a
task x variant x demonstrations summary, every cell), from `scores.score_ablation`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.ablation.scores import AblationScores, CellScore, TaskLevels
from gato_eval.durable import write_text_atomic

TABLE_CSV = "results.csv"
TABLE_MARKDOWN = "results.md"
CSV_COLUMNS = (
    "task",
    "variant",
    "n_demos",
    "seed",
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


def write_tables(path: Path, scores: AblationScores) -> tuple[Path, Path]:
    """Write results.csv (one row per cell) and results.md (summary and cells) atomically."""
    csv_path, markdown_path = Path(path) / TABLE_CSV, Path(path) / TABLE_MARKDOWN
    write_text_atomic(csv_path, cells_csv(scores))
    write_text_atomic(markdown_path, markdown_report(scores))
    return csv_path, markdown_path


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


def markdown_report(scores: AblationScores) -> str:
    """The results as markdown: references, a task x variant x demonstrations summary (mean
    over seeds), and every cell."""
    metadata = scores.metadata
    grid = metadata["grid"]
    code = metadata.get("code", {})
    total = len(grid["tasks"]) * len(grid["variants"]) * len(grid["demonstrations"])
    total *= len(grid["seeds"])
    in_grid = sum(1 for cell in scores.cells if _in_grid(cell, grid))
    # A directory keeps the cells of earlier, larger axes (a grid may shrink): say so, and
    # count them apart from the current grid's.
    extra = len(scores.cells) - in_grid
    beyond = f" (and {extra} more from earlier axes of this directory)" if extra else ""
    lines = [
        f"# Fine-tuning ablation: {scores.name}",
        "",
        f"{in_grid} of {total} cells finished{beyond}. Grid: "
        f"`{metadata.get('grid_source', '')}`;"
        f" gato-eval {code.get('code_version')}, git {str(code.get('git_revision'))[:12]}"
        f"{' (dirty)' if code.get('git_dirty') else ''}.",
        "Scores are recomputed from the run directories; normalized = (return - random) / "
        "(expert - random), with the random and expert policies evaluated exactly like the cells.",
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
    lines += ["", "## Summary: mean over seeds", ""]
    demos = sorted({c.n_demos for c in scores.cells})
    for task in scores.tasks():
        cells = [c for c in scores.cells if c.task == task]
        if not cells:
            continue
        normalized = scores.levels.get(task, TaskLevels(task, None, None)).normalizable
        unit = "normalized score, % of expert" if normalized else "mean return"
        lines += [f"**{task}** ({unit}; seeds per point in brackets)", ""]
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
    lines += [
        "## Cells",
        "",
        "| task | variant | demos | seed | episodes | mean return | normalized | checkpoint "
        "| run |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for cell in _ordered(scores):
        normalized = "-" if cell.normalized is None else f"{100 * cell.normalized:.1f}%"
        failed = f" ({cell.failed} failed)" if cell.failed else ""
        lines.append(
            f"| {cell.task} | {cell.variant} | {cell.n_demos} | {cell.seed} | "
            f"{len(cell.returns)}{failed} | {_fmt(cell.mean_return)} | {normalized} | "
            f"`{cell.checkpoint}` ({cell.checkpoint_sha256[:19]}) | `{cell.run_dir}` |"
        )
    return "\n".join(lines) + "\n"


def _in_grid(cell: CellScore, grid: dict[str, Any]) -> bool:
    return (
        cell.task in grid["tasks"]
        and cell.variant in grid["variants"]
        and cell.n_demos in grid["demonstrations"]
        and cell.seed in grid["seeds"]
    )


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
