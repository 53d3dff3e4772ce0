"""`gato-eval finetune-ablation`: the paper's out-of-distribution fine-tuning study (Sec. 5.2)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from gato_eval.ablation.progress import RichProgress


def finetune_ablation(
    grid: str = typer.Argument(
        None, help="Grid preset (tiny, small, cpu) or a grid .json file (default: tiny)."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Results directory (default: ablations/GRID_NAME). Rerunning the same command "
        "continues it; finished cells are never redone.",
    ),
    pretrained: list[str] = typer.Option(
        None,
        "--pretrained",
        help="VARIANT=PATH: start VARIANT (all, no-control or same-domain:FAMILY) from this "
        "checkpoint, or 'bundled', instead of pretraining it. Repeatable. Its recorded "
        "training data must exclude the held-out tasks.",
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto (bf16 on CUDA)."),
    threads: int = typer.Option(
        None,
        "--threads",
        min=1,
        help="CPU threads for torch in each job (1 is fastest on small CPU machines; default "
        "with --workers: the cores shared among the workers).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Jobs (pretraining a variant, fine-tuning and evaluating a cell) run at once, each "
        "in its own process: set it to the machine's cores with --threads 1.",
    ),
    max_cells: int = typer.Option(
        None,
        "--max-cells",
        min=1,
        help="Stop after finishing this many more cells; rerun to continue.",
    ),
    pilot: bool = typer.Option(
        False,
        "--pilot",
        help="Run only the grid's pilot: scratch at each task's largest number of demonstrations, "
        "every seed, into the grid's own results directory (the full grid adopts those cells), "
        "and say per task whether scratch reached 30% of expert.",
    ),
) -> None:
    """Pretrain variants, fine-tune each on 1..N demonstrations of held-out tasks, evaluate.

    For every cell (task x variant x demonstrations x seed): pretrain the variant if it is
    missing (held-out tasks never in its data), fine-tune on a nested subset of the task's best
    demonstrations (Adam, constant learning rate), evaluate with the rollout engine, and append
    a row to DIR/cells.jsonl; DIR/results.csv and results.md hold the table. Missing data sets
    are collected first.

    Run a new grid's pilot first (--pilot): it says whether scratch can learn each held-out
    task at all with the grid's settings. Draw the figure with: gato-eval plot ablation DIR
    """
    # On use: the ablation loads numpy and the trainer, and `--help` loads neither (pyproject.toml).
    from gato_eval.ablation.grid_file import load_grid
    from gato_eval.ablation.pretrained import parse_pretrained_options
    from gato_eval.ablation.runner import AblationOptions, run_ablation

    loaded = load_grid(grid)
    if pilot:
        loaded = loaded.pilot()
    options = AblationOptions(
        grid=loaded,
        out=out if out is not None else Path("ablations") / loaded.name,
        pretrained=parse_pretrained_options(pretrained),
        device=device,
        threads=threads,
        max_cells=max_cells,
        workers=workers,
        argv=["gato-eval", *sys.argv[1:]],
    )
    outcome = run_ablation(options, RichProgress())
    if not outcome.complete:
        typer.echo(
            f"note: {outcome.finished} of {outcome.total} cells finished; rerun the same command "
            "to continue",
            err=True,
        )
    if pilot:
        from gato_eval.ablation.pilot import pilot_lines
        from gato_eval.ablation.scores import score_ablation

        largest = {task: max(loaded.demonstrations_of(task)) for task in loaded.tasks}
        for line in pilot_lines(score_ablation(outcome.path), largest):
            typer.echo(line, err=True)
    typer.echo(f"table: {outcome.path / 'results.md'}", err=True)
    typer.echo(str(outcome.path))
