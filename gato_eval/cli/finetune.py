"""`gato-eval finetune-ablation`: the paper's out-of-distribution fine-tuning study (Sec. 5.2)."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.cli._common import not_built


def finetune_ablation(
    grid: Path = typer.Argument(None, help="Grid file (default: the `tiny` preset)."),
) -> None:
    """Pretrain variants, fine-tune each on 1..N demonstrations of held-out tasks, evaluate."""
    raise not_built("finetune-ablation", 10)
