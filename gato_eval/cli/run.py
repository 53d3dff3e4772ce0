"""`gato-eval run ...`: evaluate a policy on a suite of tasks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from gato_eval.cli.console import make_console
from gato_eval.cli.run_progress import RunProgress
from gato_eval.distributed.types import RayOptions
from gato_eval.evaluate import RunOptions, evaluate_suite
from gato_eval.run.settings import (
    DEFAULT_STEP_TIMEOUT_S,
    MAX_ENVS,
    MAX_EPISODES,
    MAX_STEP_TIMEOUT_S,
)

run_app = typer.Typer(
    help="Evaluate a model (or another policy) on a suite of tasks.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: see gato_eval.cli.PLAIN_HELP
)

EXIT_EPISODES_FAILED = 3


@run_app.command("suite")
def run_suite(
    ctx: typer.Context,
    suite: str = typer.Argument(
        None, help="Suite name or suite .json file (see `gato-eval ls suites`; default: default)."
    ),
    model: str = typer.Option(
        None,
        "--model",
        help="Checkpoint directory, 'bundled', 'random', 'expert' or a plug-in "
        "'package.module:Class' (default: bundled).",
    ),
    episodes: int = typer.Option(
        None,
        "--episodes",
        min=1,
        max=MAX_EPISODES,
        help="Episodes per task (default: the suite's).",
    ),
    envs: int = typer.Option(
        None,
        "--envs",
        min=1,
        max=MAX_ENVS,
        help="Parallel environments per task; results do not depend on it (default: 8).",
    ),
    seed: int = typer.Option(
        None,
        "--seed",
        min=0,
        help="Run seed; every episode's reset seed derives from it (default: 0).",
    ),
    prompt: str = typer.Option(
        None,
        "--prompt",
        help="Prompt strategy: first (paper), end, uniform or none (default: first).",
    ),
    prompt_tokens: int = typer.Option(
        None,
        "--prompt-tokens",
        min=0,
        help="Prompt length in tokens (default: half the model's context).",
    ),
    prompt_source: str = typer.Option(
        None,
        "--prompt-source",
        help="Where prompt demonstrations come from: auto (the task's local data set, else the "
        "bundled ones), bundled (only those: the same prompts on every machine) or local "
        "(default: auto).",
    ),
    temperature: float = typer.Option(
        None, "--temperature", help="Action sampling temperature; 0 is greedy (default: 0)."
    ),
    window: str = typer.Option(
        None,
        "--window",
        help="When the context is full: 'recompute' the kept window exactly, or keep the cached "
        "keys as Transformer-XL memory ('xl', as the paper deployed Gato; faster, inexact "
        "beyond one layer) (default: recompute).",
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    out: Path = typer.Option(
        None, "--out", help="Run directory to write (default: runs/<suite>-<time>)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the interrupted run in --out; options left out are taken from it.",
    ),
    video: int = typer.Option(
        None,
        "--video",
        min=0,
        max=MAX_EPISODES,
        help="Write mp4s of the first N episodes of each task (default: 0).",
    ),
    label: str = typer.Option(None, "--label", help="A name for this run in tables and plots."),
    reference: str = typer.Option(
        "project,published,jat,procgen",
        "--reference",
        help="Reference sources for the normalized column, tried in order for each task (the "
        "first with a reference measured under the run's protocol wins): project, published "
        "(papers' dm_control experts), jat, jat-v2-metaworld (JAT's Meta-World v2 rows), human, "
        "procgen (published R_max, measured random) or procgen-rmin (the Procgen field's "
        "R_min/R_max), comma-separated.",
    ),
    threads: int = typer.Option(
        None,
        "--threads",
        min=1,
        help="CPU threads for the model's forward passes (default 1: faster for batched "
        "rollouts of small models, and much faster on a busy machine).",
    ),
    step_timeout: float = typer.Option(
        DEFAULT_STEP_TIMEOUT_S,
        "--step-timeout",
        max=MAX_STEP_TIMEOUT_S,
        help="Seconds one env reset/step may take before its episode is recorded as failed.",
    ),
    backend: str = typer.Option(
        "local",
        "--backend",
        help="local (this process) or ray (Ray actors, one policy replica each; needs "
        'pip install "gato-eval[ray]").',
    ),
    address: str = typer.Option(
        None,
        "--address",
        help="Ray cluster to join, from one of its nodes: auto (the cluster `ray start` joined "
        "this node to) or HEAD:6379 (default: $RAY_ADDRESS, else a new local Ray instance).",
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        min=1,
        help="Ray workers, each one policy replica with --envs envs (default: one per GPU "
        "for a model on a GPU cluster, else one per CPU).",
    ),
    gpus_per_worker: float = typer.Option(
        None,
        "--gpus-per-worker",
        min=0,
        help="GPUs per Ray worker; 0.5 puts two replicas on a GPU (default: 1 for a model on a "
        "GPU cluster, else 0).",
    ),
    item_size: int = typer.Option(
        None,
        "--item-size",
        min=1,
        help="Episodes per Ray work item (default: up to 4 x --envs, in whole rounds over the "
        "workers).",
    ),
) -> None:
    """Roll out a policy, prompt-conditioned, on every task of SUITE and score it.

    With no arguments: the bundled model on the `default` suite. Episode records are written as
    they finish; an interrupted run continues with --resume --out DIR. Exits with 3 when any
    episode failed (its error is in the run's episodes.jsonl).
    """
    from typer._click.exceptions import UsageError  # Typer vendors click

    from gato_eval.cli.summary_table import print_summary_table  # numpy, via scores
    from gato_eval.scores.reference import parse_reference_chain
    from gato_eval.scores.scoring import run_warnings, summarize_run

    parse_reference_chain(reference)
    if suite is not None and suite.lower() in ("true", "false"):
        raise UsageError(  # `--resume true`: the flag takes no value, so "true" became SUITE
            f"{suite!r} is not a suite: flags take no value (write --resume, not --resume {suite})",
            ctx=ctx,
        )
    _refuse_gato_options(
        ctx,
        model,
        {
            "--prompt": prompt,
            "--prompt-tokens": prompt_tokens,
            "--prompt-source": prompt_source,
            "--temperature": temperature,
            "--window": window,
        },
    )
    ray_options = RayOptions(address, workers, gpus_per_worker, item_size)
    options = RunOptions(
        suite=suite,
        model=model,
        episodes=episodes,
        num_envs=envs,
        seed=seed,
        prompt=prompt,
        prompt_tokens=prompt_tokens,
        prompt_source=prompt_source,
        temperature=temperature,
        window=window,
        device=device,
        out=out,
        resume=resume,
        videos=video,
        label=label,
        step_timeout_s=step_timeout,
        threads=threads,
        backend=backend,
        ray=ray_options,
        argv=["gato-eval", *sys.argv[1:]],
    )
    started = time.monotonic()
    with RunProgress(make_console(stderr=True)) as progress:
        outcome = evaluate_suite(options, progress)
    rows = summarize_run(outcome.path, reference)
    print_summary_table(rows, title=f"{outcome.path}", console=make_console())
    for warning in run_warnings(outcome.path):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{outcome.episodes_played} episodes played in {_duration(time.monotonic() - started)}",
        err=True,
    )
    typer.echo(str(outcome.path))
    if outcome.failed:
        typer.echo(
            f"error: {outcome.failed} of {outcome.episodes_total} episodes failed "
            f"(see the 'error' field in {outcome.path / 'episodes.jsonl'})",
            err=True,
        )
        raise typer.Exit(EXIT_EPISODES_FAILED)


def _refuse_gato_options(ctx: typer.Context, model: str | None, options: dict) -> None:
    """A usage error for Gato-only options given with a policy that would ignore them.

    `random`, `expert` and plug-in policies take no prompt, temperature or window; accepting
    the options silently made a run look configured when it was not.
    """
    from typer._click.exceptions import UsageError  # Typer vendors click

    from gato_eval.policies.plugin import is_plugin_spec

    given = [flag for flag, value in options.items() if value is not None]
    if not given or model is None:
        return
    spec = model.strip()
    if spec in ("random", "expert") or (is_plugin_spec(spec) and not Path(spec).exists()):
        them, verb = ("it", "applies") if len(given) == 1 else ("them", "apply")
        raise UsageError(
            f"{' and '.join(given)} {verb} only to a Gato model (a checkpoint or 'bundled'); "
            f"--model {spec} would ignore {them}: leave {them} out",
            ctx=ctx,
        )


def _duration(seconds: float) -> str:
    """9 min 41 s, 1 h 02 min, 12 s: how long the run took, for the log and the README."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
