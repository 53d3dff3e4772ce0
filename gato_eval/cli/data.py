"""`gato-eval data ...`: demonstration data sets (Minari) made by the project's demonstrators."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gato_eval.cli.collection_progress import CollectionProgress
from gato_eval.cli.console import make_console
from gato_eval.core.errors import GatoEvalError, close_matches
from gato_eval.suites.catalog import catalog

# Library modules are imported inside the commands: they load numpy, simulators and the suite
# registry (package metadata), which `gato-eval --help` should not wait for.

data_app = typer.Typer(
    help="Collect and inspect demonstration data sets.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: see gato_eval.cli.PLAIN_HELP
)

DATA_DIR_HELP = "Data set root (default: $GATO_EVAL_HOME/datasets)."


@data_app.command("collect")
def data_collect(
    task: str = typer.Option(..., "--task", help="Task id (see `gato-eval ls tasks`)."),
    episodes: int = typer.Option(
        100, "--episodes", min=1, help="Number of demonstration episodes."
    ),
    noise: float = typer.Option(
        0.0,
        "--noise",
        min=0.0,
        help="Noise injection: Gaussian sigma for continuous actions, epsilon for discrete ones; "
        "labels stay the clean expert actions (default: 0, clean).",
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, help="Run seed; episode i is reset with a seed from it."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing data set (once the new one is complete)."
    ),
    append: bool = typer.Option(
        False, "--append", help="Add the episodes after those of an existing data set."
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Discard an unfinished collection of this data set, not resume it."
    ),
    num_envs: int = typer.Option(4, "--num-envs", min=1, help="Environments stepped together."),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Record expert demonstrations of TASK into a local Minari data set.

    Episodes are saved as they finish: rerun the same command to resume an interrupted one.

    Prints the data set directory.
    """
    from gato_eval.collection.demonstrations import collect_demonstrations
    from gato_eval.suites.registry import get_task

    if get_task(task).family == "procgen":
        raise GatoEvalError(
            f"{task} is evaluation-only: the project has no Procgen demonstrator or data yet "
            "(evaluate it with `gato-eval run suite procgen`)"
        )
    with CollectionProgress(make_console(stderr=True)) as progress:
        info = collect_demonstrations(
            task,
            episodes,
            noise=noise,
            seed=seed,
            overwrite=overwrite,
            append=append,
            num_envs=num_envs,
            data_dir=data_dir,
            restart=restart,
            progress=progress,
        )
    typer.echo(_summary_line(info), err=True)
    typer.echo(str(info.path))


@data_app.command("ls")
def data_ls(
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every local data set (and any corrupted one or unfinished collection)."""
    from rich.table import Table

    from gato_eval.data.datasets import (
        datasets_root,
        demonstrator_label,
        find_problems,
        list_datasets,
    )

    infos = list_datasets(data_dir)
    problems = find_problems(data_dir)
    if as_json:
        payload = {
            "root": str(datasets_root(data_dir)),
            "datasets": [info.to_dict() for info in infos],
            "problems": [{"name": name, "problem": text} for name, text in problems],
        }
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    table = Table(
        title=f"{len(infos)} data sets in {datasets_root(data_dir)}", title_justify="left"
    )
    columns = ("data set", "task", "noise", "episodes", "steps", "mean return", "expert score")
    for column in (*columns, "success", "demonstrator", "size"):
        table.add_column(column, no_wrap=column in ("data set", "task"))
    for info in infos:
        table.add_row(
            info.name,
            info.task_id,
            f"{info.noise:g}",
            str(info.episodes),
            f"{info.steps:,}",
            f"{info.mean_return:.4g}",
            f"{info.expert_score:.4g}",
            "-" if info.success_rate is None else f"{info.success_rate:.0%}",
            demonstrator_label(info.demonstrator),
            _size(info.size_bytes),
        )
    console = make_console()
    console.print(table)
    for name, text in problems:
        console.print(f"{name}: {text}", markup=False, highlight=False)


@data_app.command("info")
def data_info(
    dataset: str = typer.Argument(..., help="Data set name or task id."),
    noise: float = typer.Option(None, "--noise", help="Which noise variant of the task's data."),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    verify: bool = typer.Option(
        False, "--verify", help="Also check the HDF5 file's SHA-256 and episode count."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """What a data set holds: task, demonstrator, noise, episodes, returns, provenance."""
    from gato_eval.data.datasets import dataset_info, demonstrator_label, verify_dataset
    from gato_eval.scores.expert_rule import expert_window

    _check_dataset_or_task(dataset, data_dir)
    info = dataset_info(dataset, noise, data_dir)
    if verify:
        verify_dataset(info)
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=2, sort_keys=True))
        return
    demonstrator = info.demonstrator
    lines = [
        f"data set      {info.name} (Minari id {info.path.name})",
        f"path          {info.path}",
        f"task          {info.task_id} ({info.task['env_id']})",
        f"demonstrator  {demonstrator_label(demonstrator)}",
        f"noise         {info.noise:g} ({demonstrator['noise_kind']})",
        f"episodes      {info.episodes} ({info.steps:,} steps, {_size(info.size_bytes)})",
        f"mean return   {info.mean_return:.6g}",
        f"expert score  {info.expert_score:.6g} (max windowed mean, "
        f"W={expert_window(info.episodes)})",
    ]
    if info.success_rate is not None:
        lines.append(f"success       {info.success_rate:.1%}")
    versions = ", ".join(f"{k} {v}" for k, v in info.env_versions.items())
    lines.append(f"simulators    {versions}")
    for number, collection in enumerate(info.collections, start=1):
        first = collection["first_index"]
        revision = collection["git_revision"] or "no git"
        lines.append(
            f"collection {number}  episodes {first}..{first + collection['episodes'] - 1}, "
            f"seed {collection['seed']}, {collection['finished_at']}, "
            f"gato-eval {collection['gato_eval_version']} ({revision})"
        )
    if verify:
        lines.append("verified      SHA-256 and episode count match")
    typer.echo("\n".join(lines))


@data_app.command("reference")
def data_reference(
    dataset: str = typer.Argument(..., help="Data set name or task id."),
    noise: float = typer.Option(None, "--noise", help="Which noise variant of the task's data."),
    random_episodes: int = typer.Option(
        50, "--random-episodes", help="Random-policy episodes for the random score."
    ),
    seed: int = typer.Option(0, "--seed", help="Run seed of the random episodes."),
    num_envs: int = typer.Option(4, "--num-envs", help="Environments stepped together."),
    data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    shipped: bool = typer.Option(
        False,
        "--shipped",
        help="Write the package's project_reference_scores.csv (for maintainers) instead of "
        "$GATO_EVAL_HOME/reference_scores.csv.",
    ),
    max_steps: int = typer.Option(
        None,
        "--max-steps",
        min=1,
        help="Measure under a step cap (protocol max_steps=N, e.g. 1000 for the default "
        "suite's Atari): the random and the demonstrator's episodes are played capped, no data "
        "set is read. Default: full-length episodes, expert from the data set.",
    ),
    expert_episodes: int = typer.Option(
        50, "--expert-episodes", min=1, help="Demonstrator episodes played with --max-steps."
    ),
    random_only: bool = typer.Option(
        False,
        "--random-only",
        help="Measure and record only the random score (tasks without a demonstrator, e.g. "
        "Procgen, whose expert comes from another source of the --reference chain).",
    ),
) -> None:
    """Record a task's expert score (from its data set) and random score (seeded episodes).

    The expert score is the paper's maximum windowed mean return of the data set's episodes,
    or, with --max-steps, of demonstrator episodes played under that cap. References are stored
    per protocol: a capped run is only ever normalized by references measured capped.

    Prints the reference table written.
    """
    from gato_eval.collection.references import ReferenceOptions, measure_task_references

    options = ReferenceOptions(
        dataset=dataset,
        noise=noise,
        random_episodes=random_episodes,
        seed=seed,
        num_envs=num_envs,
        data_dir=data_dir,
        shipped=shipped,
        max_steps=max_steps,
        expert_episodes=expert_episodes,
        random_only=random_only,
    )
    recorded = measure_task_references(
        options, open_progress=lambda: CollectionProgress(make_console(stderr=True))
    )
    typer.echo(_references_line(recorded), err=True)
    typer.echo(str(recorded.path))


def _check_dataset_or_task(dataset: str, data_dir) -> None:
    """A NAME that is neither a data set nor a task id is a typo: say so, with the close names,
    instead of suggesting `data collect --task NAME` for a task that does not exist."""
    from gato_eval.data.datasets import (
        dataset_path,
        datasets_root,
        list_datasets,
        split_dataset_name,
    )

    tasks = catalog()
    if dataset_path(dataset, data_dir).is_dir() or split_dataset_name(dataset)[0] in tasks:
        return
    names = [info.name for info in list_datasets(data_dir)]
    raise GatoEvalError(
        f"{dataset!r} is neither a data set in {datasets_root(data_dir)} nor a task id"
        f"{close_matches(dataset, [*names, *tasks])}; `gato-eval data ls` lists the data sets, "
        "`gato-eval ls tasks` the tasks"
    )


def _references_line(recorded) -> str:
    """What `data reference` measured (a `RecordedReferences`), on one line."""
    random = f"random {recorded.random:.6g} ({recorded.random_episodes} episodes)"
    if recorded.dataset is not None:  # full-length: the data set's expert score
        return (
            f"{recorded.task}: expert {recorded.expert:.6g} (data set {recorded.dataset}, "
            f"{recorded.expert_episodes} episodes), {random}"
        )
    if recorded.expert is None:
        return f"{recorded.task} ({recorded.protocol}): {random}"
    return (
        f"{recorded.task} ({recorded.protocol}): expert {recorded.expert:.6g} "
        f"({recorded.expert_episodes} episodes, W={recorded.window}), {random}"
    )


def _summary_line(info) -> str:
    success = "" if info.success_rate is None else f", success {info.success_rate:.0%}"
    return (
        f"{info.name}: {info.episodes} episodes, {info.steps:,} steps, mean return "
        f"{info.mean_return:.4g}{success}, expert score {info.expert_score:.4g}"
    )


def _size(size_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size_bytes < 1000 or unit == "GB":
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"
        size_bytes /= 1000
    return f"{size_bytes:.1f} GB"
