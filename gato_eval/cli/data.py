"""`gato-eval data ...`: demonstration data sets (Minari) made by the project's demonstrators."""

from __future__ import annotations

import typer

from gato_eval.cli._common import not_built

data_app = typer.Typer(help="Collect and inspect demonstration data sets.", no_args_is_help=True)


@data_app.command("collect")
def data_collect(
    task: str = typer.Option(..., "--task", help="Task id (see `gato-eval ls tasks`)."),
    episodes: int = typer.Option(100, "--episodes", help="Number of demonstration episodes."),
) -> None:
    """Record expert demonstrations of TASK into a local Minari data set."""
    raise not_built("data collect", 6)
