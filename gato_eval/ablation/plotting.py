"""The ablation figure (paper Sec. 5.2, Fig. 10 style): score versus demonstrations, per task.

Takes the numbers of `scores.ablation_panels` (and optionally `comparison.compare_to_scratch`)
and returns a matplotlib Figure (no pyplot, no files). Each line carries the gid `task|variant`
and its band `task|variant|band`; the expert and random levels are dashed and dotted reference
lines with gids `task|expert`, `task|random`. With comparisons, a second row of panels under
each task's shows every pretrained variant minus scratch versus demonstrations (gids
`task|variant|difference` and `task|variant|difference|band`) around a zero line
(`task|zero`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from gato_eval.ablation.comparison import Comparison
from gato_eval.ablation.grid import VARIANTS
from gato_eval.ablation.scores import TaskPanel
from gato_eval.scores.plotting import PALETTE

VARIANT_COLORS = dict(zip(VARIANTS, PALETTE, strict=False))
VARIANT_LABELS = {
    "all": "all data",
    "same-domain": "same domain only",
    "no-control": "no control data",
    "scratch": "scratch",
}


def plot_ablation(
    panels: Sequence[TaskPanel],
    *,
    comparisons: Sequence[Comparison] = (),
    title: str | None = None,
    note: str | None = None,
) -> Figure:
    """One panel per task: mean score over runs versus number of demonstrations (log x), one
    line per variant with its interval band, and the expert and random levels; with
    `comparisons`, each task's difference panel below it."""
    if not panels:
        raise ValueError("nothing to plot: no task has a finished cell")
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    differences = bool(comparisons)
    per_row = 2 if differences else 1
    height = 3.5 * rows + (2.8 * rows if differences else 0.0) + 0.7
    figure = Figure(figsize=(4.4 * columns, height), layout="constrained")
    grid = figure.subplots(rows * per_row, columns, squeeze=False)
    used = []
    for index, panel in enumerate(panels):
        row, column = divmod(index, columns)
        _draw_panel(grid[row * per_row, column], panel)
        used.append(grid[row * per_row, column])
        if differences:
            mine = [c for c in comparisons if c.task == panel.task]
            _draw_differences(grid[row * per_row + 1, column], panel, mine)
            used.append(grid[row * per_row + 1, column])
    for axes in grid.flat:
        axes.set_visible(any(axes is u for u in used))
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


def _draw_differences(axes, panel: TaskPanel, comparisons: Sequence[Comparison]) -> None:
    """Each pretrained variant minus scratch on one task, with its interval band, around zero."""
    zero = axes.axhline(0.0, color="0.3", linewidth=0.9)
    zero.set_gid(f"{panel.task}|zero")
    normalized = any(c.scale == "normalized" for c in comparisons)
    factor = 100.0 if normalized else 1.0
    demos = sorted({int(n) for curve in panel.curves for n in curve.n_demos})
    for variant in VARIANTS:
        mine = sorted((c for c in comparisons if c.variant == variant), key=lambda c: c.n_demos)
        if not mine:
            continue
        color = VARIANT_COLORS.get(variant, "black")
        n = np.array([c.n_demos for c in mine])
        point, low, high = (
            factor * np.array([getattr(c.difference, name) for c in mine])
            for name in ("point", "low", "high")
        )
        (line,) = axes.plot(
            n, point, marker="o", markersize=4, color=color,
            label=f"{VARIANT_LABELS.get(variant, variant)} - scratch",
        )  # fmt: skip
        line.set_gid(f"{panel.task}|{variant}|difference")
        band = axes.fill_between(n, low, high, color=color, alpha=0.18)
        band.set_gid(f"{panel.task}|{variant}|difference|band")
    axes.set_xscale("log")
    if demos:
        axes.xaxis.set_major_locator(FixedLocator(demos))
        if len(demos) == 1:
            axes.set_xlim(demos[0] / 2, demos[0] * 2)
    axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.set_xlabel("fine-tuning demonstrations")
    unit = "points of % expert" if normalized else "return"
    axes.set_ylabel(f"minus scratch ({unit})")
    axes.set_title(f"{panel.task}:\npretrained minus scratch", fontsize=9)  # long ids fit
    axes.grid(alpha=0.3)
    if not comparisons:
        axes.text(0.5, 0.6, "fewer than 2 runs a side:\nno comparison", ha="center",
                  transform=axes.transAxes, fontsize=8, color="0.4")  # fmt: skip
    else:
        axes.legend(fontsize=7, loc="best")
