"""`gato-eval run ...`: evaluate a policy on a suite of tasks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from gato_eval.progress import make_progress

run_app = typer.Typer(
    help="Evaluate a model (or another policy) on a suite of tasks.", no_args_is_help=True
)

EXIT_EPISODES_FAILED = 3


@run_app.command("suite")
def run_suite(
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
        None, "--episodes", help="Episodes per task (default: the suite's)."
    ),
    envs: int = typer.Option(
        None,
        "--envs",
        help="Parallel environments per task; results do not depend on it (default: 8).",
    ),
    seed: int = typer.Option(
        None, "--seed", help="Run seed; every episode's reset seed derives from it (default: 0)."
    ),
    prompt: str = typer.Option(
        None,
        "--prompt",
        help="Prompt strategy: first (paper), end, uniform or none (default: first).",
    ),
    prompt_tokens: int = typer.Option(
        None,
        "--prompt-tokens",
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
        None, "--video", help="Write mp4s of the first N episodes of each task (default: 0)."
    ),
    label: str = typer.Option(None, "--label", help="A name for this run in tables and plots."),
    reference: str = typer.Option(
        "project",
        "--reference",
        help="Reference scores for the normalized column: project, jat or human.",
    ),
    step_timeout: float = typer.Option(
        300.0,
        "--step-timeout",
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
        help="Ray workers, each one policy replica with --envs envs (default: one per GPU "
        "for a model on a GPU cluster, else one per CPU).",
    ),
    gpus_per_worker: float = typer.Option(
        None,
        "--gpus-per-worker",
        help="GPUs per Ray worker; 0.5 puts two replicas on a GPU (default: 1 for a model on a "
        "GPU cluster, else 0).",
    ),
    item_size: int = typer.Option(
        None,
        "--item-size",
        help="Episodes per Ray work item (default: up to 4 x --envs, in whole rounds over the "
        "workers).",
    ),
) -> None:
    """Roll out a policy, prompt-conditioned, on every task of SUITE and score it.

    With no arguments: the bundled model on the `default` suite. Episode records are written as
    they finish; an interrupted run continues with --resume --out DIR. Exits with 3 when any
    episode failed (its error is in the run's episodes.jsonl).
    """
    from rich.console import Console

    from gato_eval.distributed.ray_backend import RayOptions
    from gato_eval.evaluate import RunOptions, evaluate_suite
    from gato_eval.normalization import check_reference_source
    from gato_eval.scoring import print_summary, run_warnings, summarize_run

    check_reference_source(reference)
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
        backend=backend,
        ray=ray_options,
        argv=["gato-eval", *sys.argv[1:]],
    )
    console = Console()
    with RichRunProgress(Console(stderr=True)) as progress:
        outcome = evaluate_suite(options, progress)
    rows = summarize_run(outcome.path, reference)
    print_summary(rows, title=f"{outcome.path}", console=console)
    for warning in run_warnings(outcome.path):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(str(outcome.path))
    if outcome.failed:
        typer.echo(
            f"error: {outcome.failed} of {outcome.episodes_total} episodes failed "
            f"(see the 'error' field in {outcome.path / 'episodes.jsonl'})",
            err=True,
        )
        raise typer.Exit(EXIT_EPISODES_FAILED)


class RichRunProgress:
    """Progress bars: one for the whole run, one for the current task, episodes/s and steps/s."""

    def __init__(self, console):
        self.progress = make_progress(console, stats_field="rate")
        self.overall = None
        self.tasks = {}
        self.started = time.perf_counter()
        self.episodes = 0
        self.steps = 0
        self.failed = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.overall is not None:
            self.progress.stop()

    def run_started(self, run, missing):
        self.progress.start()  # not before: an early one-line error stays one line
        total = len(run.task_ids) * run.episodes_per_task
        todo = sum(len(v) for v in missing.values())
        self.overall = self.progress.add_task(
            f"{run.metadata['suite']['name']}", total=total, completed=total - todo, rate=""
        )

    def task_started(self, task_id, planned, done):
        # One bar and clock per task: on the ray backend several tasks run at once.
        self.tasks[task_id] = {
            "bar": self.progress.add_task(f"  {task_id}", total=planned, completed=done, rate=""),
            "clock": time.perf_counter(),
            "episodes": 0,
        }

    def env_steps(self, count):
        self.steps += count

    def episode_finished(self, result):
        self.episodes += 1
        self.failed += result.failed
        task = self.tasks[result.task_id]
        task["episodes"] += 1
        now = time.perf_counter()
        task_rate = task["episodes"] / max(now - task["clock"], 1e-9)
        elapsed = max(now - self.started, 1e-9)
        overall = f"{self.episodes / elapsed:.2f} ep/s, {self.steps / elapsed:,.0f} steps/s"
        if self.failed:
            overall += f", {self.failed} failed"
        self.progress.update(task["bar"], advance=1, rate=f"{task_rate:.2f} ep/s")
        self.progress.update(self.overall, advance=1, rate=overall)

    def task_finished(self, task_id):
        pass

    def worker_lost(self, reason, requeued):
        self.progress.console.print(
            f"a Ray worker was lost ({reason}); {requeued} episodes will be played again"
        )
