"""Scores from raw episodes: per-task mean returns, normalized against reference scores.

Raw episode records (`run.directory`) are the source of truth: every score here is recomputed
from them, so fixing a reference score never needs a re-run. For one task (GATO.md section 4):

    score            = mean return over the task's episodes with status "ok"
    normalized       = (score - random) / (expert - random)       1.0 = expert, 0.0 = random
    human-normalized = (score - random) / (human - random)        Atari only

Failed episodes (status "failed") are excluded from every mean and counted. A task whose
reference is missing, or whose expert score is not above its random score, is reported as not
normalizable and never scored (it is never silently 1.0); which reference a task is normalized
against, and whether it can be, is `scores.normalization`'s. A reference applies only under the
protocol the run played the task with (`task_protocols`: a step cap is a different protocol,
gato_eval.suites.protocol), and every row says which protocol and which source it used.

Importing this module is cheap (no numpy, no simulator): the rollout engine calls
`summarize_run` at the end of `gato-eval run suite`.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.task_spec import TaskSpec
from gato_eval.run.directory import Run, load_run
from gato_eval.scores.normalization import resolve_normalizers
from gato_eval.scores.reference import (
    DEFAULT_REFERENCE,
    FULL_PROTOCOL,
    Reference,
    ReferenceLike,
    is_finite_number,
)
from gato_eval.suites.protocol import protocol_of
from gato_eval.suites.registry import catalog

HUMAN_NORMALIZED_FAMILIES = ("atari",)


@dataclass(frozen=True)
class TaskEpisodes:
    """The raw episodes of one task in one run: returns of the ok episodes, in episode order."""

    task: str
    family: str
    planned: int
    returns: tuple[float, ...]
    successes: tuple[bool, ...]  # of the ok episodes whose record has a success flag
    failed: int
    has_success: bool

    @property
    def partial(self) -> bool:
        return len(self.returns) + self.failed < self.planned


@dataclass(frozen=True)
class TaskRow:
    """One line of a run summary. Scores are None where undefined; `note` says why."""

    task: str
    family: str
    episodes: int  # ok episodes, the ones every mean is taken over
    failed: int  # failed episodes, excluded from every mean
    planned: int  # episodes the run asked for
    mean_return: float | None
    std_return: float | None  # sample standard deviation (ddof=1), None below 2 episodes
    success_rate: float | None  # None where the task defines no success
    normalized: float | None
    human_normalized: float | None  # Atari only, full-length protocol only
    protocol: str  # the evaluation protocol of the task's episodes ("full", "max_steps=1000")
    reference: str  # the reference source (or table) that normalized it, the chain when none
    random: float | None  # its random score
    expert: float | None  # its expert score
    reference_note: str  # where the reference numbers come from, and their caveats
    note: str  # what a reader of this row must know: partial, failed, not normalizable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_run(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else load_run(Path(run))


def run_label(run: Run) -> str:
    """The short name of a run in legends: metadata label, else policy name, else dir name."""
    recorded = run.typed_metadata
    if recorded.label is not None and recorded.label.strip():
        return recorded.label.strip()
    name = (recorded.policy or {}).get("name")  # a string when present (RunMetadata checks)
    if name:
        return name
    return Path(run.path).resolve().name


def task_family(run: Run, task_id: str) -> str:
    """The task's family from its recorded TaskSpec; the id prefix (`family-name`) otherwise."""
    family = _recorded_spec(run, task_id).get("family")  # a string when present
    return family if family is not None else task_id.split("-", 1)[0]


def task_protocols(run: Run) -> dict[str, str]:
    """task id -> the protocol key (gato_eval.suites.protocol) the run played it under, in suite
    order: from the task spec the run recorded, completed by the catalog's and the suite's step
    cap where the record lacks fields. An unregistered task is "full" unless the suite capped
    its family."""
    caps = run.typed_metadata.suite.max_episode_steps
    registered = catalog()
    protocols = {}
    for task in suite_task_ids(run):
        recorded = _recorded_spec(run, task)
        base = registered.get(task)
        if base is None:
            cap = caps.get(task_family(run, task))
            protocols[task] = f"max_steps={cap}" if cap else FULL_PROTOCOL
            continue
        fields = base.to_dict() | {k: v for k, v in recorded.items() if k != "task_id"}
        if "max_episode_steps" not in recorded and caps.get(base.family):
            fields["max_episode_steps"] = min(base.max_episode_steps, caps[base.family])
        protocols[task] = protocol_of(TaskSpec.from_dict(fields))
    return protocols


def collect_task_episodes(run: Run) -> dict[str, TaskEpisodes]:
    """task id -> its raw episodes, in suite order. Bad numbers are a one-line error."""
    run = ensure_run(run)
    planned = run.typed_metadata.episodes_per_task
    tasks = suite_task_ids(run)
    returns: dict[str, list[tuple[int, float]]] = {task: [] for task in tasks}
    successes: dict[str, list[tuple[int, bool]]] = {task: [] for task in tasks}
    failed = dict.fromkeys(tasks, 0)
    for record in run.episodes:
        task, episode = record["task"], record["episode"]
        if not isinstance(task, str) or isinstance(episode, bool) or not isinstance(episode, int):
            raise GatoEvalError(
                f"{run.path}: episode record with task {task!r} and episode {episode!r} is "
                "malformed: the run is corrupt"
            )
        if task not in returns:
            continue  # reported by run_warnings; it is not part of the suite being scored
        if record["status"] == "failed":
            failed[task] += 1
            continue
        value = record["return"]
        if isinstance(value, bool) or not is_finite_number(value):
            raise GatoEvalError(
                f"{run.path}: episode {record['episode']} of {task} has return {value!r}, "
                "not a finite number: the run is corrupt"
            )
        returns[task].append((int(record["episode"]), float(value)))
        if isinstance(record["success"], bool):
            successes[task].append((int(record["episode"]), record["success"]))
    result = {}
    for task in tasks:
        has_success = bool(_recorded_spec(run, task).get("has_success"))
        result[task] = TaskEpisodes(
            task=task,
            family=task_family(run, task),
            planned=planned,
            returns=tuple(value for _, value in sorted(returns[task])),
            successes=tuple(flag for _, flag in sorted(successes[task])),
            failed=failed[task],
            has_success=has_success or bool(successes[task]),
        )
    return result


def summarize_run(
    run: Run | str | Path,
    reference: str = DEFAULT_REFERENCE,
    *,
    references: Mapping[str, ReferenceLike] | None = None,
    human_references: Mapping[str, ReferenceLike] | None = None,
) -> list[TaskRow]:
    """One row per suite task, in suite order, recomputed from the run's raw episodes.

    `reference` is the chain of sources the `normalized` column uses (default
    "project,published,jat,procgen"; the first with a reference for the task's protocol wins);
    Atari rows also get a human-normalized score where the protocol is full-length.
    `references` / `human_references` (task id -> object with `random` and `expert`) replace
    the shipped tables, e.g. in tests.
    """
    run = ensure_run(run)
    episodes = collect_task_episodes(run)
    protocols = task_protocols(run)
    normalizers = resolve_normalizers(protocols, reference, references)
    atari = {t: protocols[t] for t, e in episodes.items() if e.family in HUMAN_NORMALIZED_FAMILIES}
    humans = resolve_normalizers(atari, "human", human_references) if atari else {}
    return [_summarize_task(e, normalizers[t], humans.get(t)) for t, e in episodes.items()]


def _summarize_task(
    episodes: TaskEpisodes, normalizer: Reference, human: Reference | None
) -> TaskRow:
    returns = episodes.returns
    notes = []
    mean = statistics.fmean(returns) if returns else None
    std = statistics.stdev(returns) if len(returns) >= 2 else None
    normalized = human_normalized = None
    if mean is None:
        notes.append("no finished episode")
    elif normalizer.normalizable:
        normalized = normalizer.normalize(mean)
    else:
        notes.append("not normalizable: " + normalizer.reason_not_normalizable())
    if mean is not None and human is not None and human.normalizable:
        human_normalized = human.normalize(mean)
    if episodes.partial:
        notes.append(f"partial: {len(returns) + episodes.failed}/{episodes.planned} episodes")
    if episodes.failed:
        notes.append(f"{episodes.failed} failed episode(s) excluded")
    success_rate = None
    if episodes.has_success and episodes.successes:
        success_rate = sum(episodes.successes) / len(episodes.successes)
    return TaskRow(
        task=episodes.task,
        family=episodes.family,
        episodes=len(returns),
        failed=episodes.failed,
        planned=episodes.planned,
        mean_return=mean,
        std_return=std,
        success_rate=success_rate,
        normalized=normalized,
        human_normalized=human_normalized,
        protocol=normalizer.protocol,
        reference=normalizer.source,
        random=normalizer.random,
        expert=normalizer.expert,
        reference_note=normalizer.note,
        note="; ".join(notes),
    )


def run_warnings(run: Run | str | Path) -> list[str]:
    """Everything about a run's records that a reader of its scores must know, one line each."""
    run = ensure_run(run)
    warnings = []
    episodes = collect_task_episodes(run)
    partial = [
        f"{t} ({len(e.returns) + e.failed}/{e.planned})" for t, e in episodes.items() if e.partial
    ]
    if partial:
        warnings.append(f"{run.path}: incomplete run, partial tasks: {', '.join(partial)}")
    failed = [f"{t} ({e.failed})" for t, e in episodes.items() if e.failed]
    if failed:
        warnings.append(f"{run.path}: failed episodes excluded from the means: {', '.join(failed)}")
    foreign = sorted({r["task"] for r in run.episodes} - set(episodes))
    if foreign:
        warnings.append(
            f"{run.path}: ignored records of tasks not in the suite: {', '.join(foreign)}"
        )
    if run.torn_tail:
        warnings.append(f"{run.path}: the last episode record was cut by a crash and is ignored")
    if run.duplicates:
        warnings.append(f"{run.path}: {run.duplicates} duplicate episode record(s) ignored")
    return warnings


def format_number(value: float | None) -> str:
    """A return for tables: 4 significant digits at most, '-' when undefined."""
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def format_percent(value: float | None) -> str:
    """A fraction as a percentage for tables (0.513 -> '51.3%'), '-' when undefined."""
    return "-" if value is None else f"{100 * value:.1f}%"


def suite_task_ids(run: Run) -> list[str]:
    """The run's suite task ids, in suite order, each once (`load_run` checked the list)."""
    return list(dict.fromkeys(run.typed_metadata.suite.tasks))


def _recorded_spec(run: Run, task_id: str) -> Mapping[str, Any]:
    """The TaskSpec dict the run recorded for `task_id`, its fields' types checked by
    `RunMetadata` (empty when the run recorded none: older and test runs record only some)."""
    return run.typed_metadata.tasks.get(task_id) or {}
