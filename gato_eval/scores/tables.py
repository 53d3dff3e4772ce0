"""Run directories turned into one ScoreTable (gato_eval.scores.stats) per agent, the unit explicit.

Several run directories given together are grouped: runs with the same label and the same
policy (kind, name, checkpoint) are seeds of one agent, and their table has unit "seed" (one
score matrix row per seed, rliable's meaning of a run). They are pooled only when their whole
evaluation protocol is equal but for the seed (gato_eval.run.identity.first_protocol_difference);
otherwise grouping stops with one line naming the first difference. A group of one run has unit
"episode": its intervals resample that run's episodes within each task. Episodes are never
passed off as runs. Every task is normalized against a reference of its own protocol (the step
cap it was played with); tasks that cannot be normalized, or have no finished episode, are left
out of the table and listed with the reason.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.run.directory import Run, load_run
from gato_eval.run.identity import first_protocol_difference
from gato_eval.scores.normalization import resolve_normalizers
from gato_eval.scores.reference import (
    DEFAULT_REFERENCE,
    Reference,
    ReferenceLike,
    parse_reference_chain,
)
from gato_eval.scores.scoring import (
    collect_task_episodes,
    run_label,
    run_warnings,
    task_protocols,
)
from gato_eval.scores.stats import ScoreTable


@dataclass
class ScoredGroup:
    """Runs of one agent turned into a ScoreTable (`scores.stats`) for aggregates and figures.

    One run: unit "episode". Several runs (seeds of one policy on one suite): unit "seed".
    `table` is None when no task could be scored; `unscored` maps task id -> reason;
    `families` maps every suite task (scored or not) to its family; `references` every suite
    task to the Reference it was (or could not be) normalized with, its `source` and `protocol`
    included.
    """

    label: str
    runs: list[Run]
    table: (
        Any  # gato_eval.scores.stats.ScoreTable | None (stats imports numpy, this module does not)
    )
    unscored: dict[str, str]
    families: dict[str, str]
    references: dict[str, Reference] = field(default_factory=dict)

    def protocol_note(self) -> str:
        """Which protocol and which reference sources the scored tasks used, for captions:
        "protocol full (6), max_steps=1000 (2); references project (7), jat (1)"."""
        scored = self.table.task_ids if self.table is not None else ()
        protocols = _counts(self.references[t].protocol for t in self.references)
        sources = _counts(self.references[t].source for t in scored)
        return f"protocol {protocols}; references {sources or 'none'}"


def _counts(values) -> str:
    found: dict[str, int] = {}
    for value in values:
        found[value] = found.get(value, 0) + 1
    return ", ".join(f"{value} ({count})" for value, count in found.items())


def group_runs(runs: Sequence[Run], *, separate: bool = False) -> list[tuple[str, list[Run]]]:
    """(label, runs) per agent, in first-seen order, labels made unique.

    Runs with the same label and the same policy (kind, name, checkpoint hash) are seeds of one
    agent and form one group (unless `separate`); they must have distinct seeds and the same
    evaluation protocol, or this stops with one line naming the first difference.
    """
    groups: dict[Any, list[Run]] = {}
    for run in runs:
        policy = run.typed_metadata.policy
        # Who the agent is (checkpoint hash), not how it was named on the command line; prompt
        # and sampling are part of the protocol, checked below.
        agent = (
            None
            if policy is None
            else {name: policy.get(name) for name in ("kind", "name", "checkpoint_sha256")}
        )
        key = (
            run_label(run),
            json.dumps(agent, sort_keys=True, default=str),
            str(Path(run.path).resolve()) if separate else "",
        )
        groups.setdefault(key, []).append(run)
    for (label, *_), members in groups.items():
        for run in members[1:]:
            difference = first_protocol_difference(members[0].metadata, run.metadata)
            if difference is not None:
                raise GatoEvalError(
                    f"{members[0].path} and {run.path} ({label!r}) cannot be pooled as seeds: "
                    f"{difference}; pass --separate to plot each run directory on its own"
                )
    for members in groups.values():
        seen: dict[Any, Run] = {}
        for run in members:
            seed = run.typed_metadata.seed
            if seed is None and len(members) > 1:
                raise GatoEvalError(
                    f"{run.path} records no seed, so it cannot be pooled with runs of the same "
                    "policy: pass --separate to plot each run directory on its own"
                )
            if str(seed) in seen:
                raise GatoEvalError(
                    f"{seen[str(seed)].path} and {run.path} are the same policy with the same "
                    f"seed ({seed}): pass --separate to plot each run directory on its own"
                )
            seen[str(seed)] = run
    labels = [key[0] for key in groups]
    result = []
    for (label, *_), members in groups.items():
        if labels.count(label) > 1:
            label = f"{label} ({Path(members[0].path).resolve().name})"
        while label in [name for name, _ in result]:
            label += "'"
        result.append((label, members))
    return result


def build_score_group(
    label: str,
    runs: Sequence[Run],
    reference: str = DEFAULT_REFERENCE,
    *,
    references: Mapping[str, ReferenceLike] | None = None,
) -> ScoredGroup:
    """Normalized scores of one agent's runs (see ScoredGroup for the unit). The runs share one
    protocol (group_runs checks it), so the first run's task protocols pick the references."""
    per_run = [collect_task_episodes(run) for run in runs]
    task_ids = list(per_run[0])
    normalizers = resolve_normalizers(task_protocols(runs[0]), reference, references)
    unscored: dict[str, str] = {}
    scored, domains, samples = [], [], []
    for task in task_ids:
        normalizer = normalizers[task]
        if not normalizer.normalizable:
            unscored[task] = "not normalizable: " + normalizer.reason_not_normalizable()
            continue
        empty = [
            str(run.path)
            for run, tasks in zip(runs, per_run, strict=True)
            if not tasks[task].returns
        ]
        if empty:
            unscored[task] = f"no finished episode in {', '.join(empty)}"
            continue
        if len(runs) == 1:
            samples.append([normalizer.normalize(r) for r in per_run[0][task].returns])
        else:
            samples.append(
                [normalizer.normalize(statistics.fmean(t[task].returns)) for t in per_run]
            )
        scored.append(task)
        domains.append(per_run[0][task].family)
    table = None
    if scored and len(runs) == 1:
        table = ScoreTable.from_episodes(label, samples, scored, domains)
    elif scored:
        table = ScoreTable.from_matrix(label, np.array(samples).T, scored, domains)
    families = {task: episodes.family for task, episodes in per_run[0].items()}
    return ScoredGroup(label, list(runs), table, unscored, families, normalizers)


def load_score_groups(
    paths: Sequence[str | Path],
    reference: str = DEFAULT_REFERENCE,
    *,
    separate: bool = False,
    references: Mapping[str, ReferenceLike] | None = None,
) -> tuple[list[ScoredGroup], list[str]]:
    """Load run directories, group seeds of one agent, score them; returns (groups, warnings).

    `references` (task id -> object with `random` and `expert`, e.g. from
    normalization.load_reference_table) replaces the shipped table; `reference` then only names it.
    """
    if references is None:
        parse_reference_chain(reference)
    resolved = [Path(path).resolve() for path in paths]
    repeated = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if repeated:
        raise GatoEvalError(f"run directory given more than once: {', '.join(repeated)}")
    runs = [load_run(Path(path)) for path in paths]
    warnings = [line for run in runs for line in run_warnings(run)]
    groups = [
        build_score_group(label, members, reference, references=references)
        for label, members in group_runs(runs, separate=separate)
    ]
    return groups, warnings
