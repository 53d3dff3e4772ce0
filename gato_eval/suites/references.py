"""Reference scores per task and protocol, each number with its source: what scores divide by.

A reference applies to a run's score only when it was measured under the same *protocol*
(`gato_eval.suites.protocol`: `"full"` for full-length episodes, `"max_steps=1000"` for the
`default` suite's capped Atari games, ...): a random or expert return of a 1,000-step game says
nothing about a 30-minute one. `get_reference(task_id, source, protocol)` answers for one.

Sources:
- `"project"`: random and expert returns this project measured on exactly these environments
  (its demonstrators, its wrappers), under any protocol. Two CSV files with the columns
  `task,protocol,random,expert,random_episodes,expert_episodes,window,provenance,measured_at`,
  one row per (task, protocol): `project_reference_scores.csv` shipped in the package
  (committed, maintained by the project) and a user-local `$GATO_EVAL_HOME/reference_scores.csv`,
  whose rows take precedence. `record_project_reference` writes them. Files in the older format
  (`task,random,expert,episodes,...`, measured full-length) read as protocol `full` with
  `episodes` as both counts and are rewritten in the new format by the next recording.
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
- `"procgen"`: Procgen only: Cobbe et al. (2020)'s published R_min (as `random`) and R_max (as
  `expert`) per game and distribution mode (`procgen_constants.py`), full-length episodes, in
  the protocol's mode.

A task without numbers in a source for a protocol gets a `Reference` with `None` and a note: it
is reported as not normalizable, like one whose expert <= random (GATO.md Sec. 4), never scored.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from gato_eval.durable import write_text_atomic
from gato_eval.errors import GatoEvalError
from gato_eval.normalization import (  # noqa: F401 (Reference: this module's answer type)
    DEFAULT_REFERENCE,
    REFERENCE_SOURCES,
    Reference,
    check_reference_source,
    parse_reference_chain,
)
from gato_eval.paths import home_dir
from gato_eval.suites.catalog import ATARI_57
from gato_eval.suites.procgen_constants import published_range
from gato_eval.suites.protocol import FULL, step_cap
from gato_eval.suites.registry import get_task

PACKAGE_DIR = Path(__file__).resolve().parent
ATARI_HUMAN_FILE = PACKAGE_DIR / "atari57_random_human.csv"
JAT_FILE = PACKAGE_DIR / "jat_reference_scores.csv"
PROJECT_FILE = PACKAGE_DIR / "project_reference_scores.csv"
PROJECT_COLUMNS = (
    "task",
    "protocol",
    "random",
    "expert",
    "random_episodes",
    "expert_episodes",
    "window",
    "provenance",
    "measured_at",
)
LEGACY_COLUMNS = ("task", "random", "expert", "episodes", "provenance", "measured_at")
USER_FILE_NAME = "reference_scores.csv"
_PROTOCOL_PART = re.compile(r"^[a-z_][a-z0-9_]*=[^;,\s]+$")


def user_reference_file() -> Path:
    """The user-local project reference CSV (its rows override the packaged ones)."""
    return home_dir() / USER_FILE_NAME


def get_reference(task_id: str, source: str = "project", protocol: str = FULL) -> Reference:
    """The reference of a registered task in `source` under `protocol` (see module doc)."""
    check_reference_source(source)
    check_protocol(protocol)
    spec = get_task(task_id)
    if source == "project":
        return _project_reference(task_id, protocol)
    if source == "procgen":
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
        return found
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


def _published_reference(task_id: str) -> Reference:
    # A paper's expert with this project's random: papers report no random return, and the
    # random one must come from exactly the environment being scored.
    from gato_eval.suites.published_references import published_experts

    row = published_experts().get(task_id)
    if row is None:
        why = "no published expert for this task (README: tasks without a reference)"
        return Reference(task_id, None, None, "published", why)
    random = _project_reference(task_id, FULL)
    note = f"expert: {row.note} | random: {random.note}"
    return Reference(task_id, random.random, row.expert, "published", note)


def available_sources(task_id: str, protocol: str = FULL) -> list[str]:
    """The sources that can normalize `task_id` under `protocol` (normalizable ones only)."""
    return [
        source
        for source in REFERENCE_SOURCES
        if get_reference(task_id, source, protocol).normalizable
    ]


def check_protocol(protocol: str) -> str:
    """`protocol` when it is a well-formed protocol key (`full` or `name=value;...`)."""
    parts = protocol.split(";") if isinstance(protocol, str) else [None]
    if protocol != FULL and not all(_PROTOCOL_PART.match(part or "") for part in parts):
        raise GatoEvalError(
            f"malformed protocol {protocol!r}: expected 'full' or 'name=value' parts joined by "
            "';' (e.g. max_steps=1000)"
        )
    if protocol != FULL:
        try:
            cap = step_cap(protocol)
        except ValueError:
            cap = 0
        if cap is not None and cap < 1:
            raise GatoEvalError(f"malformed protocol {protocol!r}: max_steps must be >= 1")
    return protocol


def record_project_reference(
    task_id: str,
    *,
    protocol: str = FULL,
    random: float | None = None,
    expert: float | None = None,
    random_episodes: int | None = None,
    expert_episodes: int | None = None,
    window: int | None = None,
    provenance: str = "",
    path: Path | None = None,
) -> Path:
    """Store a measured random and/or expert return of `task_id` under `protocol`.

    `path` defaults to the user-local file (`user_reference_file()`); pass
    `references.PROJECT_FILE` to update the packaged table that the project commits. Each number
    recorded comes with its episode count (`random_episodes`, `expert_episodes`); `window` is the
    expert's averaging window W (GATO.md Sec. 4), when known. A number left as None keeps its
    stored value and count; the provenance then names which number each text describes
    ("random: ... | expert: ..."). The file is rewritten atomically, under a lock so that
    concurrent recorders never drop each other's rows, and keeps every other (task, protocol)
    row. Returns the path written.
    """
    get_task(task_id)
    check_protocol(protocol)
    if random is None and expert is None:
        raise GatoEvalError("record_project_reference needs a random or an expert return")
    for name, value, count in (
        ("random", random, random_episodes),
        ("expert", expert, expert_episodes),
    ):
        if value is None:
            if count is not None:
                raise GatoEvalError(f"{name}_episodes given without a {name} return")
            continue
        if not (isinstance(value, int | float) and math.isfinite(value)):
            raise GatoEvalError(f"{name} return of {task_id} must be a finite number: {value!r}")
        _check_count(f"{name}_episodes", count)
    if window is not None:
        if expert is None:
            raise GatoEvalError("window given without an expert return")
        _check_count("window", window)
    if not provenance.strip():
        raise GatoEvalError("provenance must say how the numbers were measured")
    path = Path(path) if path is not None else user_reference_file()
    with _locked(path):
        rows = _read_project_file(path) if path.exists() else {}
        old = rows.get((task_id, protocol), {})
        row = {name: old.get(name, "") for name in PROJECT_COLUMNS}
        parts = _provenance_parts(old.get("provenance", ""), old)
        text = " ".join(provenance.split())
        if random is not None:
            row.update(random=_format_number(random), random_episodes=str(random_episodes))
            parts["random"] = text
        if expert is not None:
            row.update(
                expert=_format_number(expert),
                expert_episodes=str(expert_episodes),
                window="" if window is None else str(window),
            )
            parts["expert"] = text
        row.update(
            task=task_id,
            protocol=protocol,
            provenance=_join_provenance(parts),
            measured_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        rows[(task_id, protocol)] = row
        _write_project_file(path, rows)
    return path


def _check_count(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GatoEvalError(f"{name} must be a positive integer, got {value!r}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Read-modify-write of a shared table: a second recorder waits instead of writing a table
    # that lacks the first one's row. The lock is on the table's directory (the table itself is
    # replaced by a rename, and a lock file would litter the package). Where flock does not
    # exist the write is simply unlocked.
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _project_reference(task_id: str, protocol: str) -> Reference:
    for path in (user_reference_file(), PROJECT_FILE):
        row = _read_project_file(path).get((task_id, protocol)) if path.exists() else None
        if row is not None:
            counts = ", ".join(
                f"{name} {row[name + '_episodes']} episodes"
                for name in ("random", "expert")
                if row[name]
            )
            window = f", W={row['window']}" if row["window"] else ""
            note = f"{row['provenance']} ({counts}{window}, {row['measured_at']}; {path})"
            return Reference(
                task_id, _number(row["random"]), _number(row["expert"]), "project", note, protocol
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


def _read_project_file(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(task, protocol) -> row (every PROJECT_COLUMNS name, as text) of a project table."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise GatoEvalError(f"cannot read reference file {path}: {err}") from err
    reader = csv.DictReader(io.StringIO(text))
    columns = tuple(reader.fieldnames or ())
    if columns not in (PROJECT_COLUMNS, LEGACY_COLUMNS):
        raise GatoEvalError(
            f"{path}: expected the columns {','.join(PROJECT_COLUMNS)}, found {','.join(columns)}"
        )
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise GatoEvalError(f"{path}, line {line}: expected {len(columns)} fields")
        if columns == LEGACY_COLUMNS:
            row = _from_legacy(row)
        for name in ("random", "expert"):
            if row[name] and _number(row[name]) is None:
                raise GatoEvalError(f"{path}, line {line}: {name} is not a number: {row[name]!r}")
        for name in ("random_episodes", "expert_episodes", "window"):
            if row[name] and not (row[name].isdigit() and int(row[name]) > 0):
                raise GatoEvalError(
                    f"{path}, line {line}: {name} is not a positive integer: {row[name]!r}"
                )
        try:
            check_protocol(row["protocol"])
        except GatoEvalError as err:
            raise GatoEvalError(f"{path}, line {line}: {err}") from None
        key = (row["task"], row["protocol"])
        if key in rows:
            raise GatoEvalError(f"{path}, line {line}: a second row for {key[0]} ({key[1]})")
        rows[key] = row
    return rows


def _from_legacy(row: dict[str, str]) -> dict[str, str]:
    # The first format held full-length measurements with one episode count for both numbers;
    # the expert's window was only stated in its provenance ("W=5").
    window = re.search(r"\(W=(\d+)\)", row["provenance"])
    return {
        "task": row["task"],
        "protocol": FULL,
        "random": row["random"],
        "expert": row["expert"],
        "random_episodes": row["episodes"] if row["random"] else "",
        "expert_episodes": row["episodes"] if row["expert"] else "",
        "window": window.group(1) if window and row["expert"] else "",
        "provenance": row["provenance"],
        "measured_at": row["measured_at"],
    }


def _write_project_file(path: Path, rows: dict[tuple[str, str], dict[str, str]]) -> None:
    # Replaced atomically: a crash leaves either the old table or the new one, never half.
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PROJECT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows.values())
    write_text_atomic(path, buffer.getvalue(), newline="")


def _provenance_parts(text: str, row: dict[str, str]) -> dict[str, str]:
    # "random: a | expert: b" -> {"random": "a", "expert": "b"}; unlabelled text describes every
    # number the row holds.
    parts: dict[str, str] = {}
    for chunk in filter(None, (piece.strip() for piece in text.split(" | "))):
        label, _, rest = chunk.partition(": ")
        if label in ("random", "expert") and rest:
            parts[label] = rest
        else:
            parts.update({name: chunk for name in ("random", "expert") if row.get(name)})
    return parts


def _join_provenance(parts: dict[str, str]) -> str:
    if parts.keys() == {"random", "expert"} and parts["random"] == parts["expert"]:
        return parts["random"]
    return " | ".join(f"{name}: {parts[name]}" for name in ("random", "expert") if name in parts)


def _format_number(value: float) -> str:
    return repr(float(value))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


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
        random, expert = _number(row["random_mean"]), _number(row["expert_mean"])
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
