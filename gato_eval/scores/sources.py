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

Random play measured here decides what an expert from elsewhere is worth (`_judged_here`,
wherever the project has a random row of the task and protocol):
- `jat`'s zero point is the project's random return, not JAT's own random (which stays in the
  note): JAT measured it under JAT's wrappers, and the paper's 0% is uniform-random play on the
  environment being scored, as for `published` and `procgen`. `human` keeps the standard Atari
  random that human-normalized scores are defined with.
- Any source's expert at or below the project's random mean is refused (atari-solaris: JAT's
  1,353.7 under this harness's random 2,124.7), and so is one that a quarter of random games
  reach (at or below the random episodes' upper quartile, recorded since 2026-12-03): such an
  "expert" is random play's typical good game (atari-private-eye: JAT's 100 is what 70% of
  random games score; atari-pitfall: JAT's -1.4 is beaten by every random game that never
  falls), and normalizing by it would call random play expert. `human` is exempt from the
  quartile rule: the human-normalized score is the field's convention, kept comparable with
  published tables even on games where the human score is barely above random (Double Dunk
  -16.4, Video Pinball 17,667.9, both below random's upper quartile here).
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
    provenance_of,
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
        local = _project_row(task_id, FULL)
        return _judged_here(
            found, local, zero_point=source == "jat", quartile_rule=source != "human"
        )
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


def _judged_here(
    found: Reference,
    local: tuple[dict[str, str], Path] | None,
    zero_point: bool = False,
    quartile_rule: bool = True,
) -> Reference:
    """`found` judged by the uniform-random play this project measured on exactly its
    environment and protocol, `local` (`_project_row`; see the module docstring): with
    `zero_point`, its random return becomes the project's; an expert at or below the project's
    random mean, or (`quartile_rule`) its random upper quartile, is refused. `found` unchanged
    where the project measured no random return."""
    random = None if local is None else number(local[0]["random"])
    if random is None or found.expert is None:
        return found
    judged = found
    if zero_point and found.random != random:
        own = "none" if found.random is None else f"{found.random:g}"
        note = (
            f"expert: {found.note} | random: {_row_note(*local, only='random')}; "
            f"{found.source}'s own random {own}"
        )
        judged = replace(found, random=random, note=note)
    quartile = number(local[0]["random_upper_quartile"])
    refused = ""
    if found.expert <= random:
        refused = (
            f"{found.source}'s expert {found.expert:g} is not above uniform-random play on this "
            f"environment (mean {random:g})"
        )
    elif quartile_rule and quartile is not None and found.expert <= quartile:
        refused = (
            f"a quarter of uniform-random games on this environment reach {found.source}'s "
            f"expert {found.expert:g} (their upper quartile {quartile:g}, mean {random:g}): "
            "such an expert would score random play's good games as expert play"
        )
    return replace(judged, refused=refused) if refused else judged


def _published_reference(task_id: str) -> Reference:
    # A paper's expert with this project's random: papers report no random return, and the
    # random one must come from exactly the environment being scored.
    row = published_experts().get(task_id)
    if row is None:
        why = "no published expert for this task (README: tasks without a reference)"
        return Reference(task_id, None, None, "published", why)
    local = _project_row(task_id, FULL)
    random = _row_reference(task_id, FULL, local)
    note = f"expert: {row.note} | random: {random.note}"
    return _judged_here(Reference(task_id, random.random, row.expert, "published", note), local)


def _procgen_reference(task_id: str, protocol: str) -> Reference:
    # Gato normalizes by (score - random) / (expert - random) with a uniform-random zero point;
    # Cobbe et al.'s R_min is a blind trained agent's score (up to half of R_max), so the zero
    # point is the random return measured here on exactly these levels, and R_max the expert.
    found = published_range(task_id, protocol)
    if found.r_max is None:
        return Reference(task_id, None, None, "procgen", found.note, protocol)
    local = _project_row(task_id, protocol)
    random = _row_reference(task_id, protocol, local)
    note = f"expert: Procgen {found.mode}-mode R_max ({SOURCE_NOTE}) | random: {random.note}"
    reference = Reference(task_id, random.random, found.r_max, "procgen", note, protocol)
    return _judged_here(reference, local)


def available_sources(task_id: str, protocol: str = FULL) -> list[str]:
    """The sources that can normalize `task_id` under `protocol` (normalizable ones only)."""
    return [
        source
        for source in REFERENCE_SOURCES
        if get_reference(task_id, source, protocol).normalizable
    ]


def _project_reference(task_id: str, protocol: str) -> Reference:
    local = _project_row(task_id, protocol)
    return _judged_here(_row_reference(task_id, protocol, local), local)


def _row_reference(
    task_id: str, protocol: str, local: tuple[dict[str, str], Path] | None
) -> Reference:
    """A project row (`_project_row`) as it stands, or why there is none."""
    if local is None:
        why = (
            f"not measured by this project for protocol {protocol} yet (gato-eval data "
            "reference measures one)"
        )
        return Reference(task_id, None, None, "project", why, protocol)
    row, path = local
    random, expert, note = number(row["random"]), number(row["expert"]), _row_note(row, path)
    return Reference(task_id, random, expert, "project", note, protocol)


def _project_row(task_id: str, protocol: str) -> tuple[dict[str, str], Path] | None:
    """The project table row of (task, protocol) and its file: the user file's, else the
    packaged one's; None where neither has one."""
    for path in (user_reference_file(), PROJECT_FILE):
        row = read_project_file(path).get((task_id, protocol)) if path.exists() else None
        if row is not None:
            return row, path
    return None


def _row_note(row: dict[str, str], path: Path, only: str | None = None) -> str:
    """Where a project row's numbers come from; `only`: "random" or "expert", that number's."""
    names = [name for name in ("random", "expert") if row[name] and only in (None, name)]
    counts = ", ".join(f"{name} {row[name + '_episodes']} episodes" for name in names)
    window = f", W={row['window']}" if row["window"] and "expert" in names else ""
    where = portable_path(path)  # a report quotes it: not the machine's directories
    text = row["provenance"] if only is None else provenance_of(row, only)
    return f"{text} ({counts}{window}, {row['measured_at']}; {where})"


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
