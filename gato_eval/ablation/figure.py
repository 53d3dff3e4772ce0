"""The ablation figure of a results directory: scores recomputed from its runs, then drawn.

`plot_ablation_dir(path)` is what `gato-eval plot ablation` calls; the grid itself is run by
`gato_eval.ablation.runner.run_ablation` (`gato-eval finetune-ablation`).
"""

from __future__ import annotations

from pathlib import Path

from gato_eval.ablation.comparison import ALL_TASKS, compare_to_scratch
from gato_eval.ablation.plotting import plot_ablation
from gato_eval.ablation.scores import ablation_panels, score_ablation
from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.plotting import save_figure


def plot_ablation_dir(path: Path, out: Path | None = None, scale: str = "auto") -> Path:
    """Draw the ablation figure of results directory `path` into `out` (default
    PATH/figures/ablation.png); returns the file written."""

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
