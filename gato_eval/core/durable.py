"""Durable files: replace a file atomically, append JSON lines that survive a crash, hash a file.

Every file the harness keeps (run metadata, checkpoints, data sets, reference tables, ablation
tables) is written the same way: to a hidden sibling temporary file (named per process), flushed
and fsynced, then renamed over the old one, and the directory fsynced so that the rename itself
is on disk. A crash leaves either the old file or the new one, never half of one.

Importing this module is cheap (standard library only).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError

_HASH_BLOCK = 1 << 20  # 1 MB reads: large data sets and weights never sit in memory whole


def write_text_atomic(path: Path, text: str, *, newline: str | None = None) -> None:
    """Replace `path` with `text` (UTF-8) so that a crash leaves the old file or the new one.

    `newline` is passed to `open` (use "" for CSV text that already holds its line endings).
    """
    path = Path(path)
    # The writer's pid in the name: processes replacing the same file at once (workers of one
    # job) never write into, or rename away, each other's temporary file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8", newline=newline) as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


def fsync_directory(path: Path) -> None:
    """Flush a directory's entries (a rename into it) to disk; a no-op where the platform or
    file system cannot (opening or fsyncing a directory fails there, and that is not an error
    the caller could fix)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a crash leaves either the old file or the new one, never half of one."""
    text = json.dumps(data, indent=2, sort_keys=True, default=json_default) + "\n"
    write_text_atomic(Path(path), text)


def append_json_line(path: Path, record: dict[str, Any]) -> None:
    """Append `record` as one line of the JSON-lines file `path`, durably (flush and fsync),
    after cutting a torn last line. For append-only logs other than episodes.jsonl."""
    path = Path(path)
    truncate_torn_tail(path)
    line = json.dumps(record, sort_keys=True, default=json_default).encode() + b"\n"
    with open(path, "ab") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_json_lines(path: Path) -> tuple[list[Any], bool]:
    """(records, torn_tail) of a JSON-lines file written by `append_json_line`.

    An unterminated last line is a crash's torn tail, even if it parses (`append_json_line`
    cuts it away before its next append): skipped, and `torn_tail` is True. Any other
    unreadable line is a one-line `GatoEvalError`.
    """
    path = Path(path)
    if not path.exists():
        return [], False
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if number == len(lines):  # no newline after it: never committed
            return records, True
        try:
            records.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise GatoEvalError(f"{path}:{number} is corrupt: {err}") from None
    return records, False


def truncate_torn_tail(path: Path) -> None:
    if not path.exists():
        path.touch()
        return
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as handle:
        handle.seek(max(0, size - 1))
        if handle.read(1) == b"\n":
            return
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1  # 0 when the only line is torn
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def json_default(value: Any) -> Any:
    """numpy scalars and paths in records and metadata; non-finite floats become strings."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
