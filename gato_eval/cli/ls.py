"""`gato-eval ls ...`: what tasks and suites exist."""

from __future__ import annotations

import typer

from gato_eval.cli.console import make_console
from gato_eval.scores.reference import DEFAULT_REFERENCE

# Library modules are imported inside the commands: the suite registry reads package metadata,
# which `gato-eval --help` should not wait for.

ls_app = typer.Typer(
    help="List tasks and suites.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: see gato_eval.cli.PLAIN_HELP
)


@ls_app.command("tasks")
def ls_tasks(
    family: str = typer.Option(
        None, "--family", help="Only this family: atari, dmc, metaworld or babyai."
    ),
    suite: str = typer.Option(None, "--suite", help="Only the tasks of this suite."),
) -> None:
    """Every registered task: environment id, family, simulator version, action space, episode
    length, the reference sources that can normalize its scores under its protocol (the step
    cap shown; a suite may cap it) and the source the default chain uses."""
    from rich.table import Table

    from gato_eval.scores.normalization import resolve_normalizers
    from gato_eval.scores.sources import available_sources
    from gato_eval.suites.protocol import protocol_of
    from gato_eval.suites.registry import all_tasks, check_family, env_versions, get_suite

    if suite is not None:
        specs = get_suite(suite).task_specs()
        if family is not None:
            check_family(family)
            specs = [spec for spec in specs if spec.family == family]
    else:
        specs = all_tasks(family)
    versions = {}
    title = (
        f"{len(specs)} tasks ('uses': the source the default --reference {DEFAULT_REFERENCE} picks)"
    )
    table = Table(title=title, title_justify="left")
    columns = ("task", "env id", "family", "version", "actions", "max steps", "references", "uses")
    for column in columns:
        table.add_column(column, no_wrap=column in ("task", "env id", "actions"))
    protocols = {spec.task_id: protocol_of(spec) for spec in specs}
    chosen = resolve_normalizers(protocols, DEFAULT_REFERENCE)
    for spec in specs:
        if spec.family not in versions:
            package, version = next(iter(env_versions(spec.family).items()))
            versions[spec.family] = f"{package} {version}"
        sources = available_sources(spec.task_id, protocols[spec.task_id])
        reference = chosen[spec.task_id]
        table.add_row(
            spec.task_id,
            spec.env_id,
            spec.family,
            versions[spec.family],
            spec.action_space,
            str(spec.max_episode_steps),
            ", ".join(sources) if sources else "-",
            reference.source if reference.normalizable else f"none ({reference.protocol})",
        )
    make_console().print(table)


@ls_app.command("suites")
def ls_suites() -> None:
    """Every packaged suite: version, task count, default episodes, step caps, description."""
    from rich.table import Table

    from gato_eval.suites.registry import all_suites

    table = Table(title="suites (run one with `gato-eval run suite NAME`)", title_justify="left")
    for column in ("suite", "version", "tasks", "episodes", "step caps", "description"):
        table.add_column(column, no_wrap=column != "description")
    for suite in all_suites():
        caps = ", ".join(f"{family} {cap}" for family, cap in suite.max_episode_steps.items())
        table.add_row(
            suite.name,
            str(suite.version),
            str(len(suite.task_ids)),
            str(suite.episodes),
            caps or "-",
            suite.description,
        )
    make_console().print(table)
