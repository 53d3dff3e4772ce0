"""One writer per directory: real second processes hold, release and die holding the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.locks import LOCK_FILE, LockHolder, lock_directory

# A second process that takes the lock, says so, and holds it until its stdin closes.
HOLDER = textwrap.dedent(
    """
    import sys
    from gato_eval.core.locks import lock_directory
    lock = lock_directory(sys.argv[1], "run")
    print("held", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def holder(tmp_path):
    """Start a process holding the lock of tmp_path/run; yields (process, directory)."""
    directory = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), "--some-option"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    yield process, directory
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_second_writer_is_refused_with_the_holders_pid_and_command(holder):
    process, directory = holder
    with pytest.raises(GatoEvalError) as err:
        lock_directory(directory, "run")
    message = str(err.value)
    assert "\n" not in message
    assert f"the run {directory} is being written by pid {process.pid}" in message
    assert "--some-option" in message  # the holder's command line


def test_the_lock_is_free_again_once_the_holder_ends(holder, tmp_path):
    process, directory = holder
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    notes = []
    with lock_directory(directory, "run", announce=notes.append) as lock:
        assert LockHolder.read(lock.path).pid == os.getpid()
    assert notes == []  # a clean release leaves nothing to take over
    assert not (directory / LOCK_FILE).exists()  # released: the lock file is gone


def test_a_killed_holders_lock_is_taken_over_with_a_message(holder):
    process, directory = holder
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    notes = []
    lock = lock_directory(directory, "run", announce=notes.append)
    assert len(notes) == 1 and f"pid {process.pid}" in notes[0] and "taking over" in notes[0]
    assert LockHolder.read(lock.path).pid == os.getpid()
    lock.release()


def test_one_process_may_lock_its_own_directory_twice_and_a_dropped_lock_is_released(tmp_path):
    first = lock_directory(tmp_path, "run")
    assert lock_directory(tmp_path, "run") is first
    del first  # the callers keep the lock in a local: returning releases it
    probe = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path)], input="", capture_output=True, text=True
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "held", probe.stderr


def test_a_directory_that_cannot_be_made_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GatoEvalError, match="cannot write to the data set directory"):
        lock_directory(blocker / "sub", "data set")


def test_a_refused_command_leaves_no_trace_of_its_lock(tmp_path):
    out = tmp_path / "new" / "model"
    lock = lock_directory(out, "training output")
    assert (out / LOCK_FILE).is_file()
    lock.release()  # the command failed before writing anything
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept"
    with lock_directory(kept, "run"):
        (kept / "metadata.json").write_text("{}")
    assert [p.name for p in kept.iterdir()] == ["metadata.json"]


def test_a_lock_file_removed_while_being_locked_is_not_trusted(tmp_path, monkeypatch):
    import gato_eval.core.locks as locks

    calls = []
    real = locks._same_file

    def first_time_gone(handle, path):
        calls.append(path)
        return False if len(calls) == 1 else real(handle, path)

    monkeypatch.setattr(locks, "_same_file", first_time_gone)
    with lock_directory(tmp_path, "run") as lock:
        assert len(calls) == 2 and LockHolder.read(lock.path).pid == os.getpid()
