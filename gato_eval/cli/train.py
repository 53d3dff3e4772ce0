"""`gato-eval train`: pretrain a Gato model on a data mixture."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.cli._common import not_built


def train(
    preset: str = typer.Option("gato-tiny", "--preset", help="Model preset."),
    mixture: str = typer.Option("all", "--mixture", help="Data mixture."),
    out: Path = typer.Option(..., "--out", help="Checkpoint directory to write."),
) -> None:
    """Pretrain a Gato model on a mixture of demonstration data sets."""
    raise not_built("train", 9)
