"""Figures from numbers: each plot function takes arrays (from gato_eval.scores.stats) and returns a
matplotlib Figure. No statistics and no decisions about files here; `save_figure` writes where
the caller says.

Figures are built on `matplotlib.figure.Figure` directly (never pyplot), so they render headless
with the Agg canvas and leave no global state behind. Every plotted line and bar carries a `gid`
(`label|domain` for threshold curves, the task id for bars) so that tests and users can read the
numbers back from the Figure.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.stats import ALL_DOMAINS, ThresholdCurves

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
# Colour-blind-safe qualitative palette (Okabe & Ito); "all" is drawn in black.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def plot_thresholds(
    curves: Sequence[ThresholdCurves],
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
) -> Figure:
    """The paper's Figure 5: number of tasks with mean normalized score >= x, x in % of expert.

    One agent: one axes with a line per domain and one for all tasks. Several agents: one panel
    per domain (all first), one line per agent. Shaded bands are the bootstrap intervals each
    ThresholdCurves carries; a footnote says what was resampled (seeds or episodes), followed
    by `notes` (one line each: which protocol and references each agent's scores used).
    """
    if not curves:
        raise ValueError("nothing to plot: no threshold curves")
    if len(curves) == 1:
        figure = Figure(figsize=(6.4, 4.4), layout="constrained")
        axes = figure.add_subplot()
        only = curves[0]
        for index, (domain, curve) in enumerate(only.domains.items()):
            color = "black" if domain == ALL_DOMAINS else PALETTE[(index - 1) % len(PALETTE)]
            _draw_curve(axes, only, domain, f"{domain} ({_count_tasks(curve.num_tasks)})", color)
        _style_threshold_axes(axes, title or f"{only.label}: tasks at or above x% of expert")
    else:
        domains = list(dict.fromkeys(d for c in curves for d in c.domains))
        columns = min(3, len(domains))
        rows = -(-len(domains) // columns)
        figure = Figure(figsize=(4.2 * columns, 3.4 * rows + 0.6), layout="constrained")
        grid = figure.subplots(rows, columns, squeeze=False)
        for slot, domain in enumerate(domains):
            axes = grid.flat[slot]
            for index, agent in enumerate(curves):
                if domain in agent.domains:
                    tasks = agent.domains[domain].num_tasks
                    color = PALETTE[index % len(PALETTE)]
                    seeds = f", {agent.num_runs} seeds" if agent.unit == "seed" else ""
                    legend = f"{agent.label} ({_count_tasks(tasks)}{seeds})"
                    _draw_curve(axes, agent, domain, legend, color)
            _style_threshold_axes(axes, domain)
        for axes in list(grid.flat)[len(domains) :]:
            axes.set_visible(False)
        if title:
            figure.suptitle(title)
    # Keep a strip at the bottom for the note saying what the bands resample.
    strip = (0.17 * (len(curves) + len(notes)) + 0.12) / figure.get_figheight()
    figure.get_layout_engine().set(rect=(0.0, strip, 1.0, 1.0 - strip))
    footnote = "\n".join([*(_band_note(c) for c in curves), *notes])
    figure.text(0.01, strip * 0.85, footnote, fontsize=7, color="0.35", va="top")
    return figure


def _draw_curve(axes, curves: ThresholdCurves, domain: str, legend: str, color: str) -> None:
    curve = curves.domains[domain]
    x = 100.0 * curves.thresholds
    # y(x) is a step function that keeps its value up to each threshold (ties count).
    (line,) = axes.plot(x, curve.counts, color=color, label=legend, drawstyle="steps-post")
    line.set_gid(f"{curves.label}|{domain}")
    band = axes.fill_between(x, curve.low, curve.high, color=color, alpha=0.18, step="post")
    band.set_gid(f"{curves.label}|{domain}|band")


def _count_tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def _style_threshold_axes(axes, title: str) -> None:
    axes.axvline(100.0, color="0.6", linestyle="--", linewidth=0.8, zorder=0)
    axes.set_xlabel("x: % of expert score")
    axes.set_ylabel("tasks with score >= x")
    axes.set_title(title, fontsize=10)
    axes.set_xlim(left=0.0)
    # At least 0..1: a panel where no task scores (all zeros) would get 0.006-step ticks.
    axes.set_ylim(bottom=0.0, top=max(1.0, axes.get_ylim()[1]))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")


def _band_note(curves: ThresholdCurves) -> str:
    return (
        f"{curves.label}: bands are {100 * curves.confidence:g}% stratified bootstrap intervals "
        f"({curves.unit_note})"
    )


def plot_task_scores(
    task_ids: Sequence[str],
    domains: Sequence[str],
    scores: np.ndarray,
    *,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    unscored: Mapping[str, str] | None = None,
    unscored_domains: Mapping[str, str] | None = None,
    title: str | None = None,
    markers: Mapping[str, str] | None = None,
) -> Figure:
    """Per-task normalized scores as horizontal bars (in % of expert), grouped by domain.

    task_ids, domains: (num_tasks,); scores, low, high: (num_tasks,) fractions of expert, low and
    high the interval drawn as error bars. `unscored` (task id -> reason) are listed as rows
    without a bar, in the domain given by `unscored_domains` (default: the id's prefix).
    `markers` (task id -> short text, e.g. the reference source and protocol) is appended to
    the task's axis label in brackets.
    """
    markers = dict(markers or {})
    scores = np.asarray(scores, dtype=np.float64)
    unscored = dict(unscored or {})
    unscored_domains = dict(unscored_domains or {})
    entries = [(d, t, i) for i, (t, d) in enumerate(zip(task_ids, domains, strict=True))]
    entries += [(unscored_domains.get(t, t.split("-", 1)[0]), t, None) for t in unscored]
    order = list(dict.fromkeys(d for d, _, _ in entries))
    entries.sort(key=lambda entry: order.index(entry[0]))  # stable: keeps order inside a domain

    figure = Figure(figsize=(7.5, 1.4 + 0.26 * max(len(entries), 1)), layout="constrained")
    axes = figure.add_subplot()
    colors = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(order)}
    positions = np.arange(len(entries))
    for domain in order:
        rows = [(p, t, i) for p, (d, t, i) in zip(positions, entries, strict=True) if d == domain]
        scored = [(p, t, i) for p, t, i in rows if i is not None]
        if scored:
            values = np.array([100.0 * scores[i] for _, _, i in scored])
            errors = None
            if low is not None and high is not None:
                lo = np.array([100.0 * low[i] for _, _, i in scored])
                hi = np.array([100.0 * high[i] for _, _, i in scored])
                errors = np.vstack([np.maximum(values - lo, 0), np.maximum(hi - values, 0)])
            bars = axes.barh(
                [p for p, _, _ in scored],
                values,
                xerr=errors,
                color=colors[domain],
                label=domain,
                error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.25"},
            )
            for bar, (_, task, _) in zip(bars.patches, scored, strict=True):
                bar.set_gid(task)
        for position, task, index in rows:
            if index is None:
                axes.text(
                    0.0,
                    position,
                    f" not scored ({_shorten(unscored[task], 90)})",
                    va="center",
                    fontsize=7,
                    color="0.25",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
                )
    labels = [f"{t} [{markers[t]}]" if markers.get(t) else t for _, t, _ in entries]
    axes.set_yticks(positions, labels, fontsize=7)
    axes.set_ylim(len(entries) - 0.5, -0.5)  # first task on top
    axes.axvline(0.0, color="0.3", linewidth=0.8)
    axes.axvline(100.0, color="0.6", linestyle="--", linewidth=0.8)
    axes.set_xlabel("normalized score (% of expert; 0% = random)")
    axes.set_title(title or "Normalized score per task", fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    if order:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure


def _shorten(text: str, limit: int) -> str:
    # A reason naming every source of a chain can run to hundreds of characters: the bar chart
    # keeps its start (the report lists it whole), so the layout never collapses.
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def plot_group_task_scores(group, low: np.ndarray, high: np.ndarray, *, title: str) -> Figure:
    """`plot_task_scores` for one scored agent: a `gato_eval.scores.tables.ScoredGroup` whose
    table is not None. Its scored tasks get bars with error bars `low`, `high` ((num_tasks,),
    e.g. from `stats.task_intervals`); the tasks it could not score are listed with the reason,
    each under its own family. Each scored task's label names the reference source that
    normalized it, and its protocol where that is not full-length."""
    table = group.table
    markers = {}
    for task in table.task_ids:
        reference = group.references.get(task)
        if reference is not None:
            capped = f"; {reference.protocol}" if reference.protocol != "full" else ""
            markers[task] = f"{reference.source}{capped}"
    return plot_task_scores(
        table.task_ids,
        table.domains,
        table.task_scores(),
        low=low,
        high=high,
        unscored=group.unscored,
        unscored_domains=group.families,
        title=title,
        markers=markers,
    )


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write `figure` to `path` (.png, .pdf or .svg, chosen by the suffix); returns the path."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise GatoEvalError(
            f"cannot write a figure to {path}: the name must end in {', '.join(FIGURE_SUFFIXES)}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=dpi)
    except OSError as err:
        raise GatoEvalError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def figure_bytes(figure: Figure, file_format: str = "png", *, dpi: int = 120) -> bytes:
    """The figure encoded as `file_format` ("png" or "svg"), for embedding in a report."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format, dpi=dpi)
    return buffer.getvalue()
