"""`gato-eval train`: pretrain a Gato model on a data mixture."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.training.checkpoints import settings_from_options
from gato_eval.training.progress import RichReporter
from gato_eval.training.settings import parse_processes


def train(
    out: Path = typer.Option(
        ..., "--out", help="Directory for checkpoints, metrics and the model."
    ),
    preset: str = typer.Option(
        None, "--preset", help="Model preset: gato-tiny, gato-small, gato-79m, ... (gato-tiny)."
    ),
    mixture: str = typer.Option(
        None,
        "--mixture",
        help="all, control, no-control, same-domain:FAMILY, task ids joined by commas "
        "(-ID drops one), or a mixture .json file. Held-out tasks only when named (all).",
    ),
    steps: int = typer.Option(None, "--steps", min=1, help="Optimizer steps (2000)."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Sequences per step (16)."),
    lr: float = typer.Option(None, "--lr", help="Peak learning rate (1e-3)."),
    warmup: int = typer.Option(
        None, "--warmup", min=0, help="Linear warmup steps before cosine (100)."
    ),
    seed: int = typer.Option(
        None, "--seed", min=0, help="Seed of the model, the data split and batches (0)."
    ),
    context_length: int = typer.Option(
        None, "--context-length", min=2, help="Tokens per sequence (the preset's)."
    ),
    text_characters: int = typer.Option(
        None, "--text-characters", help="Size of the offline text corpus (3,000,000)."
    ),
    action_smoothing: float = typer.Option(
        None,
        "--action-smoothing",
        help="Sigma, in bins, of the Gaussian label smoothing of continuous-action targets "
        "(10; 0: plain cross-entropy, as the paper).",
    ),
    position_bias: str = typer.Option(
        None,
        "--position-bias",
        help="Attention position bias: none (the paper's Gato) or alibi (a recency cue, a "
        "documented deviation; README, Training). The preset's (none).",
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto (bf16 on CUDA)."),
    eval_every: int = typer.Option(
        200, "--eval-every", min=0, help="Held-back evaluation loss every N steps (0: never)."
    ),
    checkpoint_every: int = typer.Option(
        500, "--checkpoint-every", min=0, help="Save a resumable checkpoint every N steps."
    ),
    threads: int = typer.Option(
        None, "--threads", min=0, help="CPU threads for torch (torch's default)."
    ),
    processes: str = typer.Option(
        None,
        "--processes",
        help="Data-parallel training processes on CPU, each with its share of every batch: "
        "auto, 1, 2, ... (auto: 2 when the batch splits in two, a step holds >= 4,096 "
        "positions and 2 cores are free; else 1).",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out from its newest checkpoint; options left out are taken "
        "from it.",
    ),
) -> None:
    """Pretrain a Gato model on demonstration data sets, text and captioned images.

    Sequences fill the context (25% with a prompt); AdamW with warmup and cosine decay.

    OUT gets metrics.csv, checkpoints/ and finally the model; the model's path is printed.

    Ctrl-C saves a checkpoint; --resume continues exactly where the run stopped.

    By default (--processes auto) a large enough run on a CPU with two free cores trains
    data-parallel in two processes (the same steps as one process, up to float summation
    order; the number is recorded and --resume keeps it); --processes 1 for one. Under
    torchrun each rank joins its group from the environment.

    Evaluate the result with: gato-eval run suite --model OUT
    """
    # On use: the trainer loads numpy and torch, and `--help` loads neither (pyproject.toml).
    from gato_eval.training.train import train as run_training

    given = {
        "preset": preset,
        "mixture": mixture,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "warmup": warmup,
        "seed": seed,
        "context_length": context_length,
        "text_characters": text_characters,
        "action_smoothing": action_smoothing,
        "position_bias": position_bias,
        "device": device,
        "eval_every": eval_every,
        "checkpoint_every": checkpoint_every,
        "threads": threads,
        "processes": parse_processes(processes) if processes is not None else None,
    }
    settings = settings_from_options(out, resume, given)
    result = run_training(settings, reporter=RichReporter())
    typer.echo(str(result.out))
