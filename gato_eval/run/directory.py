"""The run directory: metadata, per-episode records, resume.

Layout of a run directory (format version 1):

    metadata.json    written once, atomically, when the run starts: what was evaluated and how
                     (model and checkpoint hash, suite and its version, task specs with env
                     versions, seeds, prompt strategy, git revision, package versions, argv)
    episodes.jsonl   one JSON object per finished episode, appended, flushed and fsynced as each
                     episode ends; the source of truth for every score and figure

An episode record: {"task": str, "episode": int, "seed": int, "return": float, "length": int,
"success": bool | null, "status": "ok" | "failed", "error": str | null, "wall_s": float}.

A crash can tear only the last line; reading tolerates it, and resuming truncates it before
appending, so no episode is lost or recorded twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from gato_eval.core.durable import (
    json_default,
    truncate_torn_tail,
    write_json_atomic,
)
from gato_eval.core.errors import GatoEvalError
from gato_eval.run.metadata import MAX_EPISODES, RunMetadata  # noqa: F401 (re-exported)

RUN_FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
EPISODES_FILE = "episodes.jsonl"
RECORD_FIELDS = ("task", "episode", "seed", "return", "length", "success", "status", "error")


def _is_metadata_temporary(name: str) -> bool:
    """Whether `name` is write_text_atomic's temporary metadata file (.metadata.json.PID.tmp)."""
    return name.startswith(f".{METADATA_FILE}.") and name.endswith(".tmp")


@dataclass
class Run:
    """A loaded run directory.

    `episodes` holds the valid records in file order; `torn_tail` is True when the last line was
    cut by a crash (it is ignored); `duplicates` counts records for an already-seen
    (task, episode) pair (ignored; a correct run has none).
    """

    path: Path
    metadata: dict[str, Any]
    episodes: list[dict[str, Any]] = field(default_factory=list)
    torn_tail: bool = False
    duplicates: int = 0

    @cached_property
    def typed_metadata(self) -> RunMetadata:
        """The checked, typed view of `metadata` (`load_run` has checked it already)."""
        return RunMetadata.from_dict(self.metadata, str(self.path / METADATA_FILE))

    @property
    def task_ids(self) -> list[str]:
        return list(self.metadata["suite"]["tasks"])

    @property
    def episodes_per_task(self) -> int:
        return int(self.metadata["episodes_per_task"])

    def done_episodes(self) -> dict[str, set[int]]:
        """task id -> indices of the episodes already recorded (failed ones included)."""
        done: dict[str, set[int]] = {task: set() for task in self.task_ids}
        for record in self.episodes:
            done.setdefault(record["task"], set()).add(int(record["episode"]))
        return done

    def missing_episodes(self) -> dict[str, list[int]]:
        """task id -> episode indices still to run, in order."""
        done = self.done_episodes()
        wanted = range(self.episodes_per_task)
        return {task: [e for e in wanted if e not in done[task]] for task in self.task_ids}

    def partial_tasks(self) -> list[str]:
        """Tasks with fewer recorded episodes than the run asked for."""
        return [task for task, missing in self.missing_episodes().items() if missing]


def create_run(path: Path, metadata: dict[str, Any]) -> Run:
    """Start a new run directory at `path` (which must not hold a run already)."""
    path = Path(path)
    refuse_existing_run(path)
    # A directory with other things in it (a model, a training run, a home directory) would
    # get a run mixed into it; only what a run start killed mid-write may be there already.
    present = [p.name for p in path.iterdir()] if path.is_dir() else []
    foreign = [name for name in present if not _is_metadata_temporary(name)]
    if foreign:
        raise GatoEvalError(
            f"{path} is not empty ({', '.join(sorted(foreign)[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}) and holds no run: choose a new or empty --out"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        metadata = {"format_version": RUN_FORMAT_VERSION, **metadata}
        write_json_atomic(path / METADATA_FILE, metadata)
        (path / EPISODES_FILE).touch()
    except OSError as err:
        raise GatoEvalError(f"cannot write the run directory {path}: {err.strerror}") from None
    return Run(path=path, metadata=metadata)


def refuse_existing_run(path: Path) -> None:
    """Refuse to start a run at `path` where a run (or a file) is already: `run suite` asks
    before it loads a model, `create_run` again before it writes."""
    path = Path(path)
    if (path / METADATA_FILE).exists() or (path / EPISODES_FILE).exists():
        raise GatoEvalError(
            f"{path} already holds a run: pass --resume to continue it, or choose another --out"
        )
    if path.exists() and not path.is_dir():
        raise GatoEvalError(f"--out {path} exists and is not a directory")


def load_run(path: Path) -> Run:
    """Read a run directory; a missing, foreign or corrupt one is a one-line `GatoEvalError`."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not path.is_dir():
        raise GatoEvalError(f"{path} is not a run directory (no such directory)")
    if not meta_path.is_file():
        raise GatoEvalError(f"{path} is not a run directory (no {METADATA_FILE})")
    try:
        metadata = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GatoEvalError(f"{meta_path} is corrupt: {err}") from None
    if not isinstance(metadata, dict) or metadata.get("format_version") != RUN_FORMAT_VERSION:
        raise GatoEvalError(f"{meta_path} is not a gato-eval run (unknown format)")
    # Everything that reads a run indexes this document: a hand-edited value must fail here,
    # every problem in one line each, not as an AttributeError in resume or report.
    typed = RunMetadata.from_dict(metadata, str(meta_path))
    run = Run(path=path, metadata=metadata)
    run.typed_metadata = typed  # the cached property, filled: checked once
    _read_episodes(run)
    return run


def _read_episodes(run: Run) -> None:
    episodes_path = run.path / EPISODES_FILE
    if not episodes_path.exists():
        return
    raw = episodes_path.read_bytes()
    lines = raw.split(b"\n")
    seen: set[tuple[str, int]] = set()
    planned = run.episodes_per_task
    suite_tasks = set(run.task_ids)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if number == len(lines):
            # No newline after it: a crash cut the write. Even if it parses, EpisodeWriter cuts
            # it away before appending, so counting it as done would lose that episode.
            run.torn_tail = True
            break
        try:
            record = json.loads(line)
            _check_record(record)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as err:
            raise GatoEvalError(f"{episodes_path}:{number} is corrupt: {err}") from None
        key = (record["task"], int(record["episode"]))
        if not 0 <= key[1] < planned and key[0] in suite_tasks:
            # A record the plan never asked for (hand-appended, or from another run) would be
            # scored as an extra episode and could hide a missing one.
            raise GatoEvalError(
                f"{episodes_path}:{number}: episode {key[1]} of {key[0]} lies outside the run's "
                f"plan (0 <= episode < {planned} episodes per task): remove that line"
            )
        if key in seen:
            run.duplicates += 1
            continue
        seen.add(key)
        run.episodes.append(record)


def _check_record(record: Any) -> None:
    if not isinstance(record, dict):
        raise ValueError("record is not an object")
    missing = [name for name in RECORD_FIELDS if name not in record]
    if missing:
        raise ValueError(f"record lacks {missing}")
    if record["status"] not in ("ok", "failed"):
        raise ValueError(f"unknown status {record['status']!r}")
    if not isinstance(record["task"], str):
        raise ValueError("task is not a string")
    if not isinstance(record["episode"], int) or isinstance(record["episode"], bool):
        raise ValueError("episode is not an integer")


class EpisodeWriter:
    """Appends episode records to a run, durably, one line per episode.

    Opening it repairs a torn last line (truncates to the last complete record) so appends
    never glue onto half a line.
    """

    def __init__(self, run: Run):
        self.path = run.path / EPISODES_FILE
        truncate_torn_tail(self.path)
        self._handle = open(self.path, "ab")  # noqa: SIM115 (held open for many appends)

    def append(self, record: dict[str, Any]) -> None:
        _check_record(record)
        line = json.dumps(record, sort_keys=True, default=json_default).encode() + b"\n"
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
