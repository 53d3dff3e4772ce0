"""`gato-eval report`: a shareable summary of a run."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.cli._common import not_built


def report(
    run_dir: Path = typer.Argument(..., help="Run directory."),
) -> None:
    """Write a markdown and a self-contained HTML summary of RUN_DIR."""
    raise not_built("report", 8)
