"""`gato-eval ls ...`: what tasks and suites exist."""

from __future__ import annotations

import typer

from gato_eval.cli._common import not_built

ls_app = typer.Typer(help="List tasks and suites.", no_args_is_help=True)


@ls_app.command("tasks")
def ls_tasks() -> None:
    """Every registered task with its environment id and version."""
    raise not_built("ls tasks", 5)
