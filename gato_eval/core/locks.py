"""One writer per directory: an advisory lock file inside each run, data set and training output.

Two processes resuming the same run would both replay every missing episode (on a cluster's
shared filesystem this happens by accident: the same job submitted twice). The first writer
takes an exclusive `fcntl.flock` on `DIR/.gato-eval.lock` and writes who it is (pid, host,
command, start time) into it; a second writer is refused with one line naming the holder.

Releasing removes the lock file (and the directories `lock_directory` had to create, when they
are still empty), so a command refused for bad input leaves nothing behind. Because lock files
are removed, a writer checks after locking that the path still names the file it locked, and
starts over when it does not (another writer removed it in between).

The operating system releases a flock when its process ends, however it ends, so a killed
writer never blocks the next one. Its record stays in the file: the next writer that gets the
lock says that it takes over from that (dead) holder. On filesystems without working locks
(flock fails with ENOLCK or EOPNOTSUPP) the record alone decides: a holder alive on this host,
or on another host, keeps the directory; a dead pid on this host is taken over with a message.

A `DirectoryLock` is released by `release()`, by leaving its `with` block, when the last
reference to it goes (the callers keep it in a local variable for the length of the function
that writes) or at interpreter exit. Within one process a second `lock_directory` of the same
directory returns the lock already held: a process does not race itself.
"""

from __future__ import annotations

import atexit
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError

LOCK_FILE = ".gato-eval.lock"
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}

# Locks this process holds, by resolved lock-file path (weak: a dropped lock is released).
_held: weakref.WeakValueDictionary[str, DirectoryLock] = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a lock: read from the lock file."""

    pid: int
    host: str
    command: str
    since: str  # ISO time the lock was taken

    @classmethod
    def read(cls, path: Path) -> LockHolder | None:
        """The record in `path`; None when the file is missing, empty or not a record."""
        try:
            data = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return None
        return cls(data["pid"], str(data.get("host", "")), str(data.get("command", "")),
                   str(data.get("since", "")))  # fmt: skip

    def describe(self) -> str:
        command = self.command if len(self.command) <= 120 else self.command[:117] + "..."
        return f"pid {self.pid} on {self.host or 'an unknown host'} since {self.since} ({command})"

    def is_dead_here(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        return self.host == socket.gethostname() and not _pid_alive(self.pid)


class DirectoryLock:
    """An exclusive lock on one directory, held until `release()` (see the module docstring)."""

    def __init__(self, path: Path, handle: Any, flocked: bool, created: list[Path]):
        self.path = path  # the lock file
        self._handle = handle
        self._flocked = flocked
        self._created = created  # directories made for the lock, innermost first

    def release(self) -> None:
        """Give the lock up: remove the lock file (still holding it) and the directories made
        for it that stayed empty."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            self.path.unlink(missing_ok=True)
            for directory in self._created:
                directory.rmdir()  # fails (and stops) at the first one something was written to
        except OSError:
            pass
        finally:
            handle.close()  # releases the flock

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def lock_directory(directory: Path | str, what: str, *, announce=None) -> DirectoryLock:
    """Take the write lock of `directory` (created if missing); `what` names it in errors.

    Raises `GatoEvalError` naming the holder when another live process has it. `announce(text)`
    (default: a line on stderr) is told when the lock of a dead holder is taken over.
    """
    directory = Path(directory).expanduser().absolute()
    created = [d for d in (directory, *directory.parents) if not d.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GatoEvalError(
            f"cannot write to the {what} directory {directory}: {err.strerror}"
        ) from None
    path = (directory / LOCK_FILE).resolve()
    held = _held.get(str(path))
    if held is not None and held._handle is not None:
        return held
    while True:
        handle, previous, flocked = _lock_file(path, directory, what)
        if not flocked or _same_file(handle, path):
            break
        handle.close()  # its holder removed it as we locked it: lock the new one
    if previous is not None and previous.pid != os.getpid():
        (announce or _to_stderr)(
            f"note: taking over the lock of {directory} from {previous.describe()}, which "
            "ended without releasing it"
        )
    _write_record(handle)
    lock = DirectoryLock(path, handle, flocked, created)
    _held[str(path)] = lock
    return lock


def _lock_file(path: Path, directory: Path, what: str):
    """(open handle, previous holder's record, whether flock works) of the lock file `path`."""
    handle = _open_lock_file(path, what)
    previous = LockHolder.read(path)
    flocked = True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        holder = f"by {previous.describe()}" if previous else "by another process"
        raise GatoEvalError(
            f"the {what} {directory} is being written {holder}; wait for it to finish or stop "
            "it (two writers would repeat each other's work)"
        ) from None
    except OSError as err:
        if err.errno not in _UNSUPPORTED:
            handle.close()
            raise GatoEvalError(f"cannot lock the {what} {directory}: {err}") from None
        flocked = False  # no locks on this filesystem: the record alone decides
        if previous is not None and previous.pid != os.getpid() and not previous.is_dead_here():
            handle.close()
            raise GatoEvalError(
                f"the {what} {directory} is being written by {previous.describe()} (this "
                f"filesystem has no file locks: if that process is gone, delete {path})"
            ) from None
    return handle, previous, flocked


def _same_file(handle, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _open_lock_file(path: Path, what: str):
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise GatoEvalError(f"cannot lock the {what} {path.parent}: {err.strerror}") from None
    return os.fdopen(fd, "r+")


def _write_record(handle) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv),
        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(record) + "\n")
    handle.flush()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


@atexit.register
def _release_all() -> None:
    # A lock still referenced at exit (by the traceback of the error that ended the command)
    # is released here, so a refused command leaves no lock file behind.
    for lock in list(_held.values()):
        lock.release()
