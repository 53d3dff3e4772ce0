"""The out-of-distribution fine-tuning ablation (paper Sec. 5.2, GATO.md section 6).

Gato's held-out study: pretrain the same architecture on all data, on the held-out task's domain
only, on no control data (text and images), or not at all; fine-tune each on 1, 3, 10, ...
demonstrations of a task it never saw; evaluate; plot return (or normalized score) against the
number of demonstrations. Here the study is a grid file (`gato_eval.ablation.grid`) run by
`run_ablation` into a resumable results directory (`gato_eval.ablation.store`):

    from gato_eval.finetune import AblationOptions, load_grid, run_ablation
    outcome = run_ablation(AblationOptions(load_grid("tiny"), Path("ablations/tiny")))

and plotted from that directory (`plot_ablation_dir`). `gato-eval finetune-ablation` and
`gato-eval plot ablation` are the command-line front ends. The fine-tuning step itself is
`gato_eval.train.finetune` (Adam, constant learning rate).
"""

from __future__ import annotations

from pathlib import Path

from gato_eval.ablation.grid import Cell, Grid
from gato_eval.ablation.grid_file import load_grid
from gato_eval.ablation.runner import AblationOptions, AblationOutcome, run_ablation

__all__ = [
    "AblationOptions",
    "AblationOutcome",
    "Cell",
    "Grid",
    "load_grid",
    "plot_ablation_dir",
    "run_ablation",
]


def plot_ablation_dir(path: Path, out: Path | None = None, scale: str = "auto") -> Path:
    """Draw the ablation figure of results directory `path` into `out` (default
    PATH/figures/ablation.png); returns the file written."""
    from gato_eval.ablation.comparison import ALL_TASKS, compare_to_scratch
    from gato_eval.ablation.plotting import plot_ablation
    from gato_eval.ablation.scores import ablation_panels, score_ablation
    from gato_eval.errors import GatoEvalError
    from gato_eval.plotting import save_figure

    scores = score_ablation(Path(path))
    if not scores.cells:
        raise GatoEvalError(f"{path} has no finished cell to plot yet")
    panels = ablation_panels(scores, scale)
    comparisons = [c for c in compare_to_scratch(scores, scale) if c.task != ALL_TASKS]
    seeds = sorted({int(n) for panel in panels for curve in panel.curves for n in curve.seeds})
    note = (
        "Lines: mean over runs (seeds); bands: 95% bootstrap intervals over runs"
        + (" (points with one run: over its episodes)" if 1 in seeds else "")
        + ". Expert (dashed) and random (dotted): those policies under the same evaluation."
    )
    if comparisons:
        note += (
            " Lower row: each pretrained variant's mean minus scratch's, 95% bootstrap interval "
            "over runs (both sides resampled independently); above zero, pretraining helped. "
            "P(variant > scratch) with intervals: comparison.csv, results.md."
        )
    figure = plot_ablation(
        panels,
        comparisons=comparisons,
        title=f"Fine-tuning ablation: {scores.name}",
        note=note,
    )
    return save_figure(figure, out if out is not None else Path(path) / "figures" / "ablation.png")
