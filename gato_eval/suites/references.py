"""Reference scores per task, each number with its source: what normalized scores divide by.

Sources (`get_reference(task_id, source)`):
- `"project"` (default): random and expert returns this project measured on exactly these
  environments (its demonstrators, its wrappers). Two CSV files with the columns
  `task,random,expert,episodes,provenance,measured_at`: `project_reference_scores.csv` shipped in
  the package (committed, maintained by the project) and a user-local
  `$GATO_EVAL_HOME/reference_scores.csv`, whose rows take precedence. `record_project_reference`
  writes them.
- `"jat"`: the JAT project's expert and random means (`jat_reference_scores.csv`). JAT's
  Meta-World rows were measured on Meta-World **v2**; they are mapped to our v3 tasks with a note
  saying so. JAT's MuJoCo rows are gym MuJoCo (HalfCheetah, ...), not dm_control, and map to no
  task here. Where JAT's Atari random differs from the DQN Zoo value, the note says so.
- `"human"`: Atari only: the standard random and human scores (`atari57_random_human.csv`);
  `expert` holds the human score, so normalizing gives the human-normalized score.

A task without numbers in a source gets a `Reference` with `None` and a note: it is reported as
unnormalizable, like one whose expert <= random (GATO.md Sec. 4), and never scored 1.0.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from gato_eval.durable import write_text_atomic
from gato_eval.errors import GatoEvalError
from gato_eval.normalization import REFERENCE_SOURCES, can_normalize, check_reference_source
from gato_eval.paths import home_dir
from gato_eval.suites.catalog import ATARI_57
from gato_eval.suites.registry import get_task

PACKAGE_DIR = Path(__file__).resolve().parent
ATARI_HUMAN_FILE = PACKAGE_DIR / "atari57_random_human.csv"
JAT_FILE = PACKAGE_DIR / "jat_reference_scores.csv"
PROJECT_FILE = PACKAGE_DIR / "project_reference_scores.csv"
PROJECT_COLUMNS = ("task", "random", "expert", "episodes", "provenance", "measured_at")
USER_FILE_NAME = "reference_scores.csv"


@dataclass(frozen=True)
class Reference:
    """The random and expert returns of one task in one source (None where it has none)."""

    task_id: str
    random: float | None
    expert: float | None
    source: str
    note: str = ""

    @property
    def normalizable(self) -> bool:
        """Both numbers known and finite, and expert > random."""
        return can_normalize(self.random, self.expert)


def user_reference_file() -> Path:
    """The user-local project reference CSV (its rows override the packaged ones)."""
    return home_dir() / USER_FILE_NAME


def get_reference(task_id: str, source: str = "project") -> Reference:
    """The reference of a registered task in `source` ("project", "jat" or "human")."""
    check_reference_source(source)
    spec = get_task(task_id)
    if source == "project":
        return _project_reference(task_id)
    table = _jat_table() if source == "jat" else _human_table()
    if task_id in table:
        return table[task_id]
    why = {
        "human": f"human scores exist for Atari only, not {spec.family}",
        "jat": (
            "JAT has no dm_control rows (its MuJoCo rows are gym MuJoCo tasks)"
            if spec.family == "dmc"
            else "JAT has no row for this task"
        ),
    }[source]
    return Reference(task_id, None, None, source, why)


def available_sources(task_id: str) -> list[str]:
    """The sources that can normalize `task_id` (normalizable references only)."""
    return [source for source in REFERENCE_SOURCES if get_reference(task_id, source).normalizable]


def record_project_reference(
    task_id: str,
    random: float | None = None,
    expert: float | None = None,
    episodes: int = 0,
    provenance: str = "",
    path: Path | None = None,
) -> Path:
    """Store a measured random and/or expert return of `task_id` in a project reference CSV.

    `path` defaults to the user-local file (`user_reference_file()`); pass
    `references.PROJECT_FILE` to update the packaged table that the project commits. A number
    left as None keeps its stored value; the provenance then names which number each text
    describes ("random: ... | expert: ..."). `episodes` is the episode count behind the
    numbers recorded now. The file is rewritten atomically and keeps every other task's row.
    Returns the path written.
    """
    get_task(task_id)
    if random is None and expert is None:
        raise GatoEvalError("record_project_reference needs a random or an expert return")
    for name, value in (("random", random), ("expert", expert)):
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise GatoEvalError(f"{name} return of {task_id} must be a finite number: {value!r}")
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise GatoEvalError(f"episodes must be a positive integer, got {episodes!r}")
    if not provenance.strip():
        raise GatoEvalError("provenance must say how the numbers were measured")
    path = Path(path) if path is not None else user_reference_file()
    rows = _read_project_file(path) if path.exists() else {}
    old = rows.get(task_id, {})
    parts = _provenance_parts(old.get("provenance", ""), old)
    recorded = [
        name for name, value in (("random", random), ("expert", expert)) if value is not None
    ]
    for name in recorded:
        parts[name] = " ".join(provenance.split())
    rows[task_id] = {
        "task": task_id,
        "random": _format_number(random) if random is not None else old.get("random", ""),
        "expert": _format_number(expert) if expert is not None else old.get("expert", ""),
        "episodes": str(episodes),
        "provenance": _join_provenance(parts),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _write_project_file(path, rows)
    return path


def _project_reference(task_id: str) -> Reference:
    for path in (user_reference_file(), PROJECT_FILE):
        row = _read_project_file(path).get(task_id) if path.exists() else None
        if row is not None:
            note = f"{row['provenance']} ({row['episodes']} episodes, {row['measured_at']}; {path})"
            return Reference(
                task_id, _number(row["random"]), _number(row["expert"]), "project", note
            )
    return Reference(
        task_id,
        None,
        None,
        "project",
        "not measured by this project yet (the demonstrations step records random and expert "
        "returns)",
    )


def _read_project_file(path: Path) -> dict[str, dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise GatoEvalError(f"cannot read reference file {path}: {err}") from err
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != PROJECT_COLUMNS:
        raise GatoEvalError(
            f"{path}: expected the columns {','.join(PROJECT_COLUMNS)}, "
            f"found {','.join(reader.fieldnames or ())}"
        )
    rows: dict[str, dict[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise GatoEvalError(f"{path}, line {line}: expected {len(PROJECT_COLUMNS)} fields")
        for name in ("random", "expert"):
            if row[name] and _number(row[name]) is None:
                raise GatoEvalError(f"{path}, line {line}: {name} is not a number: {row[name]!r}")
        rows[row["task"]] = row
    return rows


def _write_project_file(path: Path, rows: dict[str, dict[str, str]]) -> None:
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
