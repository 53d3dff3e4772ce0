"""The pilot of a grid: can scratch learn each held-out task at all, at this scale?

A grid is worth running only if its held-out tasks are learnable with the demonstrations and
fine-tuning steps it gives: otherwise every variant sits at the random level and no comparison
can show an effect (results/ablation_small). The pilot (`Grid.pilot`: scratch only, at each
task's largest number of demonstrations, every run) runs first, into the grid's own results
directory so that the full grid adopts its cells; `pilot_lines` says, per task, whether
scratch reached PILOT_TARGET of expert.
"""

from __future__ import annotations

from gato_eval.ablation.scores import AblationScores, ablation_panels

PILOT_TARGET = 0.30  # issue #21: scratch at the most demonstrations reaches >= 30% of expert


def pilot_lines(scores: AblationScores, largest: dict[str, int]) -> list[str]:
    """One line per task: scratch's mean normalized score at the task's largest number of
    demonstrations (`largest`: task -> n) over its runs, its 95% bootstrap interval, and whether
    the mean reaches PILOT_TARGET."""
    panels = {panel.task: panel for panel in ablation_panels(scores)}
    lines = []
    for task in scores.tasks():
        n_demos = largest[task]
        panel = panels.get(task)
        curve = next((c for c in panel.curves if c.variant == "scratch"), None) if panel else None
        points = [] if curve is None else [i for i, n in enumerate(curve.n_demos) if n == n_demos]
        if not points:
            lines.append(f"pilot: {task}: no finished scratch cell at n={n_demos} yet")
            continue
        (i,) = points
        if panel.scale != "normalized":
            lines.append(
                f"pilot: {task}: scratch n={n_demos}: mean return {curve.mean[i]:.4g} "
                "(the task's expert is not above random: no target can be checked)"
            )
            continue
        met = "met" if curve.mean[i] >= PILOT_TARGET else "NOT met"
        lines.append(
            f"pilot: {task}: scratch n={n_demos}: {100 * curve.mean[i]:.1f}% of expert "
            f"[{100 * curve.low[i]:.1f}, {100 * curve.high[i]:.1f}] over {curve.seeds[i]} runs "
            f"(target >= {100 * PILOT_TARGET:.0f}%: {met})"
        )
    return lines
