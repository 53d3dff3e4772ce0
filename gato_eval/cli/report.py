"""`gato-eval report`: a shareable summary of a run."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.cli.plot import REFERENCE_HELP
from gato_eval.scores.reference import DEFAULT_REFERENCE

# Library modules are imported inside the commands: they load numpy, matplotlib and the suite
# registry (package metadata), which `gato-eval --help` should not wait for.


def report(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    out: Path = typer.Option(
        None, "--out", help="Directory for the report files; default: RUN_DIR/report."
    ),
    reference: str = typer.Option(DEFAULT_REFERENCE, "--reference", help=REFERENCE_HELP),
    references: Path = typer.Option(
        None,
        "--references",
        help="Your own reference scores: a CSV with columns task,random,expert (optional "
        "note); replaces --reference.",
    ),
    reps: int = typer.Option(2000, "--reps", min=100, help="Bootstrap resamples."),
    confidence: float = typer.Option(
        0.95, "--confidence", min=0.5, max=0.999, help="Coverage of the intervals."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
) -> None:
    """Write a markdown and a self-contained HTML summary of RUN_DIR (tables and figures).

    Prints the paths of report.html and report.md; summary.json and the PNG figures are written
    next to them.
    """
    from gato_eval.scores.normalization import choose_reference_table
    from gato_eval.scores.report import write_report

    reference, table = choose_reference_table(reference, references)
    files = write_report(
        run_dir,
        out,
        reference=reference,
        reps=reps,
        confidence=confidence,
        seed=seed,
        references=table,
    )
    for warning in files.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(str(files.html))
    typer.echo(str(files.markdown))
