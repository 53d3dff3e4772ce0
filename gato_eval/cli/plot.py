"""`gato-eval plot ...`: figures from run directories."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.cli._common import not_built

plot_app = typer.Typer(help="Draw figures from run directories.", no_args_is_help=True)


@plot_app.command("thresholds")
def plot_thresholds(
    run_dirs: list[Path] = typer.Argument(..., help="One or more run directories."),
    out: Path = typer.Option(None, "--out", help="Figure file (.png, .pdf or .svg)."),
) -> None:
    """The paper's Figure 5: tasks at or above x% of expert, per domain, with bootstrap bands."""
    raise not_built("plot thresholds", 8)
