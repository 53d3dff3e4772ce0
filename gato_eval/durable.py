"""Durable files: replace a file atomically, make a rename survive a crash, hash a file.

Every file the harness keeps (run metadata, checkpoints, data sets, reference tables, ablation
tables) is written the same way: to a hidden sibling temporary file, flushed and fsynced, then
renamed over the old one, and the directory fsynced so that the rename itself is on disk. A
crash leaves either the old file or the new one, never half of one.

Importing this module is cheap (standard library only).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_HASH_BLOCK = 1 << 20  # 1 MB reads: large data sets and weights never sit in memory whole


def write_text_atomic(path: Path, text: str, *, newline: str | None = None) -> None:
    """Replace `path` with `text` (UTF-8) so that a crash leaves the old file or the new one.

    `newline` is passed to `open` (use "" for CSV text that already holds its line endings).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
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
