"""The project's reference tables on disk: one CSV row per (task, protocol), read and recorded.

Two files share the format (gato_eval.scores.sources reads them, the user-local one first):
`project_reference_scores.csv` shipped in the package and `$GATO_EVAL_HOME/reference_scores.csv`.
Columns: `task,protocol,random,expert,random_episodes,expert_episodes,window,
random_upper_quartile,provenance,measured_at`; `random_upper_quartile` is the 75th percentile of
the random episodes' returns (what a quarter of random games reach, which an expert must beat:
`scores.sources`), empty where a row was measured before it was recorded (2026-12-03). Files in
the two older formats (without `random_upper_quartile`; and
`task,random,expert,episodes,provenance,measured_at`, full-length measurements, read as protocol
`full` with `episodes` as both counts) are rewritten in the current format by the next
recording. Writes are atomic and locked, so a crash
leaves the old table or the new one and concurrent recorders never drop each other's rows.

Importing this module is cheap (standard library and the suite registry's protocol key only).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from gato_eval.core.durable import write_text_atomic
from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import home_dir
from gato_eval.scores.reference import is_finite_number
from gato_eval.suites.protocol import FULL, step_cap
from gato_eval.suites.registry import get_task

PROJECT_COLUMNS = (
    "task",
    "protocol",
    "random",
    "expert",
    "random_episodes",
    "expert_episodes",
    "window",
    "random_upper_quartile",
    "provenance",
    "measured_at",
)
# Before random quartiles were recorded (2026-12-03): the columns without random_upper_quartile.
NO_QUARTILE_COLUMNS = tuple(name for name in PROJECT_COLUMNS if name != "random_upper_quartile")
LEGACY_COLUMNS = ("task", "random", "expert", "episodes", "provenance", "measured_at")
USER_FILE_NAME = "reference_scores.csv"
_PROTOCOL_PART = re.compile(r"^[a-z_][a-z0-9_]*=[^;,\s]+$")


def user_reference_file() -> Path:
    """The user-local project reference CSV (its rows override the packaged ones)."""
    return home_dir() / USER_FILE_NAME


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
    random_upper_quartile: float | None = None,
    expert_episodes: int | None = None,
    window: int | None = None,
    provenance: str = "",
    path: Path | None = None,
) -> Path:
    """Store a measured random and/or expert return of `task_id` under `protocol`.

    `path` defaults to the user-local file (`user_reference_file()`); pass
    `references.PROJECT_FILE` to update the packaged table that the project commits. Each number
    recorded comes with its episode count (`random_episodes`, `expert_episodes`); `window` is the
    expert's averaging window W (GATO.md Sec. 4), when known; `random_upper_quartile` the 75th
    percentile of the random episodes' returns, when known (a new random return without one
    clears the old quartile, which described other episodes). A number left as None keeps its
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
        if not is_finite_number(value):
            raise GatoEvalError(f"{name} return of {task_id} must be a finite number: {value!r}")
        _check_count(f"{name}_episodes", count)
    if window is not None:
        if expert is None:
            raise GatoEvalError("window given without an expert return")
        _check_count("window", window)
    quartile = random_upper_quartile
    if quartile is not None:
        if random is None:
            raise GatoEvalError("random_upper_quartile given without a random return")
        if not is_finite_number(quartile):
            raise GatoEvalError(f"random upper quartile of {task_id} must be a finite number")
    if not provenance.strip():
        raise GatoEvalError("provenance must say how the numbers were measured")
    path = Path(path) if path is not None else user_reference_file()
    with _locked(path):
        rows = read_project_file(path) if path.exists() else {}
        old = rows.get((task_id, protocol), {})
        row = {name: old.get(name, "") for name in PROJECT_COLUMNS}
        parts = _provenance_parts(old.get("provenance", ""), old)
        text = " ".join(provenance.split())
        if random is not None:
            row.update(
                random=_format_number(random),
                random_episodes=str(random_episodes),
                random_upper_quartile="" if quartile is None else _format_number(quartile),
            )
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


def read_project_file(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(task, protocol) -> row (every PROJECT_COLUMNS name, as text) of a project table."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise GatoEvalError(f"cannot read reference file {path}: {err}") from err
    reader = csv.DictReader(io.StringIO(text))
    columns = tuple(reader.fieldnames or ())
    if columns not in (PROJECT_COLUMNS, NO_QUARTILE_COLUMNS, LEGACY_COLUMNS):
        raise GatoEvalError(
            f"{path}: expected the columns {','.join(PROJECT_COLUMNS)}, found {','.join(columns)}"
        )
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise GatoEvalError(f"{path}, line {line}: expected {len(columns)} fields")
        if columns == LEGACY_COLUMNS:
            row = _from_legacy(row)
        row = {name: row.get(name, "") for name in PROJECT_COLUMNS}  # no quartile: ""
        for name in ("random", "expert", "random_upper_quartile"):
            if row[name] and number(row[name]) is None:
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
        "random_upper_quartile": "",
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


def provenance_of(row: dict[str, str], name: str) -> str:
    """The provenance text of a row's `name` number ("random" or "expert"), "" without one."""
    return _provenance_parts(row["provenance"], row).get(name, "")


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


def number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
