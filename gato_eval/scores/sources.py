"""The shipped reference sources: per task and protocol, each number with where it comes from.

A reference applies to a run's score only when it was measured under the same *protocol*
(`gato_eval.suites.protocol`: `"full"` for full-length episodes, `"max_steps=1000"` for the
`default` suite's capped Atari games, ...): a random or expert return of a 1,000-step game says
nothing about a 30-minute one. `get_reference(task_id, source, protocol)` answers for one;
`available_sources` lists those that can normalize a task. The `Reference` value type and the
source names are `scores.reference`; trying a chain of sources is `scores.normalization`.

Sources:
- `"project"`: random and expert returns this project measured on exactly these environments
  (its demonstrators, its wrappers), under any protocol, one row per (task, protocol):
  `project_reference_scores.csv` shipped in the package (committed, maintained by the project)
  and a user-local `$GATO_EVAL_HOME/reference_scores.csv`, whose rows take precedence. Their
  format, and `record_project_reference` that writes them, are `project_table`'s.
- `"published"`: dm_control tasks without a project demonstrator: a published expert return of
  a strong state-based agent, with paper and table (`published_reference_scores.csv`, read by
  `published_references`), and the project's own measured random return of the task (its
  `full` row here), full-length episodes only.
- `"jat"`: the JAT project's expert and random means (`jat_reference_scores.csv`), full-length
  episodes only, Atari and BabyAI. JAT's MuJoCo rows are gym MuJoCo (HalfCheetah, ...), not
  dm_control, and map to no task here. Where JAT's Atari random differs from the DQN Zoo value,
  the note says so.
- `"jat-v2-metaworld"`: JAT's Meta-World rows, measured on Meta-World **v2**; our tasks are v3,
  whose rewards and layout differ, so they are used only where this source is named.
- `"human"`: Atari only, full-length (30-minute) games: the standard random and human scores
  (`atari57_random_human.csv`); `expert` holds the human score, so normalizing gives the
  human-normalized score.
- `"procgen"`: Procgen only, the paper's rule (score - random) / (expert - random): Cobbe et
  al. (2020)'s published R_max per game and distribution mode (`procgen_constants.py`) as
  `expert`, and this project's measured uniform-random return of the task under the same
  protocol (its project row, random only) as `random`, full-length episodes.
- `"procgen-rmin"`: the Procgen field's normalization, (R - R_min) / (R_max - R_min), with the
  published R_min as `random`: for comparing with Procgen papers. R_min is the score of a policy
  trained with its observations masked out, not a random one, so uniform-random play scores
  below 0% there (CoinRun's R_min is 5 of 10).

A task without numbers in a source for a protocol gets a `Reference` with `None` and a note: it
is reported as not normalizable, like one whose expert <= random (GATO.md Sec. 4), never scored.
A `jat` or `human` expert at or below the uniform-random return this project measured on the
same environment (its `full` project row) is not normalizable either: such an expert was
measured under another protocol and says nothing here (atari-solaris).
"""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from functools import cache
from pathlib import Path

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import portable_path
from gato_eval.scores.procgen_constants import SOURCE_NOTE, published_range
from gato_eval.scores.project_table import (
    check_protocol,
    number,
    read_project_file,
    user_reference_file,
)
from gato_eval.scores.published import published_experts
from gato_eval.scores.reference import REFERENCE_SOURCES, Reference, check_reference_source
from gato_eval.suites.catalog import ATARI_57
from gato_eval.suites.protocol import FULL
from gato_eval.suites.registry import get_task

REFERENCE_DATA = Path(__file__).resolve().parent / "reference_data"
ATARI_HUMAN_FILE = REFERENCE_DATA / "atari57_random_human.csv"
JAT_FILE = REFERENCE_DATA / "jat_reference_scores.csv"
PROJECT_FILE = REFERENCE_DATA / "project_reference_scores.csv"


def get_reference(task_id: str, source: str = "project", protocol: str = FULL) -> Reference:
    """The reference of a registered task in `source` under `protocol` (see module doc)."""
    check_reference_source(source)
    try:
        check_protocol(protocol)
    except GatoEvalError:
        # No table can hold a reference for it (a task spec whose options are not name=value
        # words, e.g. a run recorded under suite v1's Meta-World goal rule): not normalizable.
        why = f"no reference can exist for protocol {protocol!r} (not name=value parts)"
        return Reference(task_id, None, None, source, why, protocol)
    spec = get_task(task_id)
    if source == "project":
        return _project_reference(task_id, protocol)
    if source == "procgen":
        return _procgen_reference(task_id, protocol)
    if source == "procgen-rmin":
        found = published_range(task_id, protocol)
        return Reference(task_id, found.r_min, found.r_max, source, found.note, protocol)
    if source == "published" and protocol == FULL:
        return _published_reference(task_id)
    if protocol != FULL:
        games = "30-minute games" if source == "human" else "full-length episodes"
        return Reference(
            task_id, None, None, source, f"{source} references are {games}, not {protocol}",
            protocol,
        )  # fmt: skip
    table = {"human": _human_table, "jat": _jat_table, "jat-v2-metaworld": _jat_metaworld_table}
    found = table[source]().get(task_id)
    if found is not None:
        return _checked_against_local_random(found)
    why = {
        "human": f"human scores exist for Atari only, not {spec.family}",
        "jat": (
            "JAT has no dm_control rows (its MuJoCo rows are gym MuJoCo tasks)"
            if spec.family == "dmc"
            else "JAT's Meta-World rows are v2: name the source jat-v2-metaworld to use them"
            if spec.family == "metaworld"
            else "JAT has no row for this task"
        ),
        "jat-v2-metaworld": "this source holds JAT's Meta-World (v2) rows only",
    }[source]
    return Reference(task_id, None, None, source, why, protocol)


def _checked_against_local_random(found: Reference) -> Reference:
    """`found` (a full-length row of a table measured elsewhere), unless this project measured
    uniform-random play on exactly this environment at or above its expert: then the source's
    expert says nothing here (random play would score >= 100%), and the reference is returned
    with the local random so that it is not normalizable and says why. JAT's Solaris expert
    (1,353.7) sits below the random return of this harness's full-length games (#19)."""
    local = _project_reference(found.task_id, FULL)
    if local.random is None or found.expert is None or found.expert > local.random:
        return found
    note = (
        f"{found.source}'s expert {found.expert:g} is not above uniform-random play measured on "
        f"this environment ({local.random:g}; {local.note}), so it cannot normalize a score "
        f"here; the source's own random is {found.random:g} ({found.note})"
    )
    return replace(found, random=local.random, note=note)


def _published_reference(task_id: str) -> Reference:
    # A paper's expert with this project's random: papers report no random return, and the
    # random one must come from exactly the environment being scored.
    row = published_experts().get(task_id)
    if row is None:
        why = "no published expert for this task (README: tasks without a reference)"
        return Reference(task_id, None, None, "published", why)
    random = _project_reference(task_id, FULL)
    note = f"expert: {row.note} | random: {random.note}"
    return Reference(task_id, random.random, row.expert, "published", note)


def _procgen_reference(task_id: str, protocol: str) -> Reference:
    # Gato normalizes by (score - random) / (expert - random) with a uniform-random zero point;
    # Cobbe et al.'s R_min is a blind trained agent's score (up to half of R_max), so the zero
    # point is the random return measured here on exactly these levels, and R_max the expert.
    found = published_range(task_id, protocol)
    if found.r_max is None:
        return Reference(task_id, None, None, "procgen", found.note, protocol)
    random = _project_reference(task_id, protocol)
    note = f"expert: Procgen {found.mode}-mode R_max ({SOURCE_NOTE}) | random: {random.note}"
    return Reference(task_id, random.random, found.r_max, "procgen", note, protocol)


def available_sources(task_id: str, protocol: str = FULL) -> list[str]:
    """The sources that can normalize `task_id` under `protocol` (normalizable ones only)."""
    return [
        source
        for source in REFERENCE_SOURCES
        if get_reference(task_id, source, protocol).normalizable
    ]


def _project_reference(task_id: str, protocol: str) -> Reference:
    for path in (user_reference_file(), PROJECT_FILE):
        row = read_project_file(path).get((task_id, protocol)) if path.exists() else None
        if row is not None:
            counts = ", ".join(
                f"{name} {row[name + '_episodes']} episodes"
                for name in ("random", "expert")
                if row[name]
            )
            window = f", W={row['window']}" if row["window"] else ""
            where = portable_path(path)  # a report quotes it: not the machine's directories
            note = f"{row['provenance']} ({counts}{window}, {row['measured_at']}; {where})"
            return Reference(
                task_id, number(row["random"]), number(row["expert"]), "project", note, protocol
            )
    return Reference(
        task_id,
        None,
        None,
        "project",
        f"not measured by this project for protocol {protocol} yet (gato-eval data reference "
        "measures one)",
        protocol,
    )


def _read_source_csv(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(csv.DictReader(line for line in lines if not line.startswith("#")))


@cache
def _human_table() -> dict[str, Reference]:
    table = {}
    for row in _read_source_csv(ATARI_HUMAN_FILE):
        task_id = "atari-" + row["game"].replace("_", "-")
        note = "Atari-57 random and human scores (DQN Zoo); expert = human"
        table[task_id] = Reference(
            task_id, float(row["random"]), float(row["human"]), "human", note
        )
    return table


@cache
def _jat_table() -> dict[str, Reference]:
    """JAT's Atari and BabyAI rows (its Meta-World rows are v2: `_jat_metaworld_table`)."""
    return {task: ref for task, ref in _jat_rows().items() if not task.startswith("metaworld-")}


@cache
def _jat_metaworld_table() -> dict[str, Reference]:
    """JAT's Meta-World v2 rows, mapped to our v3 tasks (source "jat-v2-metaworld")."""
    return {
        task: replace(ref, source="jat-v2-metaworld")
        for task, ref in _jat_rows().items()
        if task.startswith("metaworld-")
    }


@cache
def _jat_rows() -> dict[str, Reference]:
    # JAT names Atari games without separators (atari-montezumarevenge); other rows match ours.
    jat_atari = {
        "atari-" + game.replace("_", ""): "atari-" + game.replace("_", "-") for game in ATARI_57
    }
    humans = _human_table()
    table = {}
    for row in _read_source_csv(JAT_FILE):
        jat_task = row["jat_task"]
        if jat_task.startswith("mujoco-"):
            continue  # gym MuJoCo tasks, not dm_control: no task of ours
        task_id = jat_atari.get(jat_task, jat_task)
        random, expert = number(row["random_mean"]), number(row["expert_mean"])
        notes = [f"JAT expert and random means (JAT task {jat_task})"]
        if task_id.startswith("metaworld-"):
            name = task_id.removeprefix("metaworld-")
            notes.append(
                f"measured on Meta-World v2 ({name}-v2); this task is {name}-v3, whose "
                "rewards and layout differ, so v3 scores normalized by it are approximate"
            )
        dqn = humans.get(task_id)
        if (
            dqn is not None
            and random is not None
            and not math.isclose(random, dqn.random, rel_tol=0.01, abs_tol=0.05)
        ):
            notes.append(f"JAT's random {random:g} differs from DQN Zoo's {dqn.random:g}")
        table[task_id] = Reference(task_id, random, expert, "jat", "; ".join(notes))
    return table
