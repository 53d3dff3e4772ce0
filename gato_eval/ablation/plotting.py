"""The ablation figure (paper Sec. 5.2, Fig. 10 style): score versus demonstrations, per task.

Takes the numbers of `scores.ablation_panels` and returns a matplotlib Figure (no pyplot, no
files). Each line carries the gid `task|variant` and its band `task|variant|band`; the expert
and random levels are dashed and dotted reference lines with gids `task|expert`, `task|random`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from gato_eval.ablation.grid import VARIANTS
from gato_eval.ablation.scores import TaskPanel
from gato_eval.plotting import PALETTE

VARIANT_COLORS = dict(zip(VARIANTS, PALETTE, strict=False))
VARIANT_LABELS = {
    "all": "all data",
    "same-domain": "same domain only",
    "no-control": "no control data",
    "scratch": "scratch",
}


def plot_ablation(
    panels: Sequence[TaskPanel], *, title: str | None = None, note: str | None = None
) -> Figure:
    """One panel per task: mean score over seeds versus number of demonstrations (log x), one
    line per variant with its interval band, and the expert and random levels."""
    if not panels:
        raise ValueError("nothing to plot: no task has a finished cell")
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(4.4 * columns, 3.5 * rows + 0.7), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, panel in zip(grid.flat, panels, strict=False):
        _draw_panel(axes, panel)
    for axes in list(grid.flat)[len(panels) :]:
        axes.set_visible(False)
    if title:
        figure.suptitle(title)
    if note:
        # Wrapped to the figure's width (7-point text: about 16 characters per inch), with a
        # strip at the bottom tall enough for its lines, so a one- or two-panel figure keeps it all.
        lines = textwrap.wrap(note, width=int(figure.get_figwidth() * 16))
        strip = (0.12 + 0.13 * len(lines)) / figure.get_figheight()
        figure.get_layout_engine().set(rect=(0.0, strip, 1.0, 1.0 - strip))
        figure.text(0.01, strip * 0.9, "\n".join(lines), fontsize=7, color="0.35", va="top")
    return figure


def _draw_panel(axes, panel: TaskPanel) -> None:
    factor = 100.0 if panel.scale == "normalized" else 1.0  # normalized scores in % of expert
    all_demos = sorted({int(n) for curve in panel.curves for n in curve.n_demos})
    for curve in panel.curves:
        color = VARIANT_COLORS.get(curve.variant, "black")
        (line,) = axes.plot(
            curve.n_demos,
            factor * curve.mean,
            marker="o",
            markersize=4,
            color=color,
            label=VARIANT_LABELS.get(curve.variant, curve.variant),
        )
        line.set_gid(f"{panel.task}|{curve.variant}")
        band = axes.fill_between(
            curve.n_demos, factor * curve.low, factor * curve.high, color=color, alpha=0.18
        )
        band.set_gid(f"{panel.task}|{curve.variant}|band")
    for level, value, style in (("expert", panel.expert, "--"), ("random", panel.random, ":")):
        if value is not None:
            reference = axes.axhline(
                factor * value, color="0.45", linestyle=style, linewidth=0.9, label=level
            )
            reference.set_gid(f"{panel.task}|{level}")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(FixedLocator(all_demos))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_major_formatter(ScalarFormatter())
    if len(all_demos) == 1:
        axes.set_xlim(all_demos[0] / 2, all_demos[0] * 2)
    axes.set_xlabel("fine-tuning demonstrations")
    axes.set_ylabel("normalized score (% of expert)" if factor == 100.0 else "mean return")
    axes.set_title(panel.task, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
