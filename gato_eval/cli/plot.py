"""`gato-eval plot ...`: figures from run directories."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.core.errors import GatoEvalError
from gato_eval.scores.reference import DEFAULT_REFERENCE

# Library modules are imported inside the commands: they load numpy, matplotlib and the suite
# registry (package metadata), which `gato-eval --help` should not wait for.

plot_app = typer.Typer(
    help="Draw figures from run directories.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: see gato_eval.cli.PLAIN_HELP
)

REFERENCE_HELP = (
    "Reference sources to normalize with, tried in order for each task; the first with a "
    "reference measured under the run's protocol (its step cap) wins: project, published "
    "(papers' experts of dm_control tasks without a demonstrator), jat (Atari, "
    "BabyAI), jat-v2-metaworld (JAT's Meta-World v2 rows, only where named), human (Atari, "
    "full-length games), procgen (published R_max, measured random) or procgen-rmin (the "
    "Procgen field's R_min/R_max), comma-separated."
)
REPS_HELP = "Bootstrap resamples for the confidence bands."
SEED_HELP = "Seed of the bootstrap resampling (the figure is reproducible)."
TABLE_HELP = (
    "Your own reference scores: a CSV with columns task,random,expert (optional note); "
    "replaces --reference."
)


@plot_app.command("thresholds")
def plot_thresholds(
    run_dirs: list[Path] = typer.Argument(..., help="One or more run directories."),
    out: Path = typer.Option(
        None,
        "--out",
        help="Figure file (.png, .pdf or .svg); default: RUN_DIR/figures/thresholds.png for "
        "one run, ./thresholds.png for several.",
    ),
    reference: str = typer.Option(DEFAULT_REFERENCE, "--reference", help=REFERENCE_HELP),
    references: Path = typer.Option(None, "--references", help=TABLE_HELP),
    separate: bool = typer.Option(
        False,
        "--separate",
        help="One line per run directory, even for seeds of one policy (default: seeds of the "
        "same policy and label are pooled, with intervals over seeds, when their evaluation "
        "protocol is equal but for the seed; otherwise the command stops and names the "
        "difference).",
    ),
    reps: int = typer.Option(2000, "--reps", min=100, help=REPS_HELP),
    confidence: float = typer.Option(
        0.95, "--confidence", min=0.5, max=0.999, help="Coverage of the bootstrap bands."
    ),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
) -> None:
    """The paper's Figure 5: tasks at or above x% of expert, per domain, with bootstrap bands.

    Several run directories are overlaid. Runs of the same policy (same label and policy) with
    different seeds and an otherwise equal protocol (suite and version, task specs and step
    caps, episodes, prompt, sampling) are pooled: their bands come from a bootstrap over seeds.
    A single run's bands come from a bootstrap over its episodes within each task. The figure
    says which protocol and reference sources each agent's scores used.
    """
    from gato_eval.scores.normalization import choose_reference_table
    from gato_eval.scores.plotting import plot_thresholds as draw_thresholds
    from gato_eval.scores.plotting import save_figure
    from gato_eval.scores.stats import threshold_curves
    from gato_eval.scores.tables import load_score_groups

    reference, table = choose_reference_table(reference, references)
    groups, warnings = load_score_groups(run_dirs, reference, separate=separate, references=table)
    _report_unscored(groups, warnings, reference)
    curves = [
        threshold_curves(g.table, reps=reps, confidence=confidence, seed=seed)
        for g in groups
        if g.table is not None
    ]
    if out is None:
        out = (
            run_dirs[0] / "figures" / "thresholds.png"
            if len(run_dirs) == 1
            else Path("thresholds.png")
        )
    notes = [f"{g.label}: {g.protocol_note()}" for g in groups if g.table is not None]
    path = save_figure(draw_thresholds(curves, notes=notes), out)
    for c in curves:
        typer.echo(f"note: {c.label}: {c.unit_note}", err=True)
    typer.echo(str(path))


@plot_app.command("tasks")
def plot_tasks(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    out: Path = typer.Option(
        None,
        "--out",
        help="Figure file (.png, .pdf or .svg); default: RUN_DIR/figures/tasks.png.",
    ),
    reference: str = typer.Option(DEFAULT_REFERENCE, "--reference", help=REFERENCE_HELP),
    references: Path = typer.Option(None, "--references", help=TABLE_HELP),
    reps: int = typer.Option(2000, "--reps", min=100, help=REPS_HELP),
    confidence: float = typer.Option(
        0.95, "--confidence", min=0.5, max=0.999, help="Coverage of the error bars."
    ),
    seed: int = typer.Option(0, "--seed", help=SEED_HELP),
) -> None:
    """Per-task normalized score bars grouped by domain, with bootstrap error bars over episodes."""
    from gato_eval.scores.normalization import choose_reference_table
    from gato_eval.scores.plotting import plot_group_task_scores, save_figure
    from gato_eval.scores.stats import task_intervals
    from gato_eval.scores.tables import load_score_groups

    reference, references_table = choose_reference_table(reference, references)
    groups, warnings = load_score_groups([run_dir], reference, references=references_table)
    _report_unscored(groups, warnings, reference)
    group = groups[0]
    low, high = task_intervals(group.table, reps=reps, confidence=confidence, seed=seed)
    title = f"{group.label}: normalized score per task ({group.protocol_note()})"
    figure = plot_group_task_scores(group, low, high, title=title)
    path = save_figure(figure, out if out is not None else run_dir / "figures" / "tasks.png")
    typer.echo(str(path))


@plot_app.command("ablation")
def plot_ablation(
    results_dir: Path = typer.Argument(
        ..., help="Results directory written by `gato-eval finetune-ablation`."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Figure file (.png, .pdf or .svg); default: RESULTS_DIR/figures/ablation.png.",
    ),
    scale: str = typer.Option(
        "auto",
        "--scale",
        help="auto: normalized score where a task's random and expert levels allow it, else "
        "return; return: mean return on every panel.",
    ),
) -> None:
    """The fine-tuning ablation figure (paper Sec. 5.2): score versus demonstrations.

    One panel per held-out task (log x), one line per pretraining variant with 95% bootstrap
    bands over runs (seeds), and the expert and random levels measured under the same
    evaluation; below each, every pretrained variant minus scratch with its 95% bootstrap
    interval over runs and a zero line (points with 2 or more runs a side; the probabilities of
    improvement are in RESULTS_DIR/comparison.csv and results.md).
    """
    from gato_eval.ablation.figure import plot_ablation_dir

    typer.echo(str(plot_ablation_dir(results_dir, out, scale)))


def _report_unscored(groups, warnings: list[str], reference: str) -> None:
    """Print warnings and tasks left out; fail when a run has nothing left to plot."""
    from gato_eval.scores.normalization import missing_reference_warnings

    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    for group in groups:
        for task, reason in group.unscored.items():
            typer.echo(f"warning: {group.label}: {task} not scored ({reason})", err=True)
        for line in missing_reference_warnings(group.references, reference):
            typer.echo(f"warning: {group.label}: {line}", err=True)
        if group.table is None:
            paths = ", ".join(str(run.path) for run in group.runs)
            raise GatoEvalError(
                f"nothing to plot for {paths}: no task could be scored with the "
                f"{reference!r} reference (see the warnings above)"
            )
