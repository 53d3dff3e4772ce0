"""`gato-eval run ...`: evaluate a policy on a suite of tasks."""

from __future__ import annotations

from pathlib import Path

import typer

from gato_eval.cli._common import not_built

run_app = typer.Typer(
    help="Evaluate a model (or another policy) on a suite of tasks.", no_args_is_help=True
)


@run_app.command("suite")
def run_suite(
    suite: str = typer.Argument("default", help="Suite name (see `gato-eval ls suites`)."),
    model: str = typer.Option(
        "bundled",
        "--model",
        help="Checkpoint directory, 'bundled', 'random', 'expert' or a plug-in 'module:Class'.",
    ),
    episodes: int = typer.Option(
        None, "--episodes", help="Episodes per task (suite default if unset)."
    ),
    envs: int = typer.Option(8, "--envs", help="Parallel environments per task."),
    seed: int = typer.Option(0, "--seed", help="Run seed; every episode's seed derives from it."),
    prompt: str = typer.Option(
        "first", "--prompt", help="Prompt strategy: first, end, uniform, none."
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    out: Path = typer.Option(
        None, "--out", help="Run directory to write (default runs/<suite>-<time>)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out."),
) -> None:
    """Roll out a policy, prompt-conditioned, on every task of SUITE and score it."""
    raise not_built("run suite", 7)
