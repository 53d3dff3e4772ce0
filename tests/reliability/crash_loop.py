"""Crash safety harness: run a real `gato-eval` command, SIGKILL it at random moments, resume.

`kill_and_resume` starts the command as a subprocess (its own process group), sleeps a random
delay, SIGKILLs the group, and starts it again (the resume command once the first run left
something on disk, else the original one), until it has killed it `kills` times; then it lets a
last run finish. The caller compares what is on disk with an uninterrupted run of the same
seeds: this module knows nothing about any one command, so `run suite`, `data collect`, `train`
and `finetune-ablation` all use it.

How the random moments are chosen: `measure_uninterrupted` runs the command once to the end and
times its start-up (until `progress()`, e.g. the size of episodes.jsonl, first changes) and its
work. Each attempt is then killed either during start-up (with probability `early`, at a uniform
moment of the measured start-up: imports, loading, writing metadata) or at a uniform moment in
`[0, work_window_s)` after its own first progress: mid-episode, mid-write, mid-checkpoint. The
window is the work per kill (`work_window`), so `kills` kills fit before the work runs out.

A SIGKILL cannot tear a single small `write()` on Linux (the page cache keeps whole writes), but
a power cut can: `tear_last_line` cuts a file inside its last line to stand in for that, so the
reader's torn-tail tolerance is exercised too.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

POLL_S = 0.01


def gato_eval_command(*args: object) -> list[str]:
    """argv that runs the real console entry point in a fresh interpreter."""
    return [sys.executable, "-m", "gato_eval", *(str(a) for a in args)]


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """The child environment: headless MuJoCo, one thread, a private GATO_EVAL_HOME."""
    env = dict(os.environ)
    env.update(
        MUJOCO_GL=env.get("MUJOCO_GL", "egl"),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        GATO_EVAL_HOME=str(home),
        **extra,
    )
    return env


@dataclass
class Finished:
    """A run that ended by itself: exit status, output and how long it took."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    startup_s: float | None = None  # when `progress()` first changed (measured runs)


@dataclass
class KillReport:
    """What a kill loop did.

    kills: SIGKILLs delivered; startup_kills: those aimed at start-up (before the attempt's
    first progress); delays_s: the delay of each attempt (killed or not); finished_early:
    attempts that finished before their kill moment; tears: torn last lines injected after
    kills; final: the last, uninterrupted run.
    """

    kills: int = 0
    startup_kills: int = 0
    delays_s: list[float] = field(default_factory=list)
    finished_early: int = 0
    tears: int = 0
    attempts: int = 0
    wall_s: float = 0.0
    final: Finished | None = None


def _spawn(argv: Sequence[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    # Output goes to files, never to pipes nobody reads while waiting (a full pipe would block
    # the child and turn a kill loop into a hang).
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log.with_suffix(".out"), "w")  # noqa: SIM115 (closed by _finish)
    err = open(log.with_suffix(".err"), "w")  # noqa: SIM115
    process = subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
    )
    process._logs = (out, err, log)  # type: ignore[attr-defined]
    return process


def _finish(process: subprocess.Popen, started_at: float) -> Finished:
    out, err, log = process._logs  # type: ignore[attr-defined]
    out.close()
    err.close()
    return Finished(
        returncode=process.returncode,
        stdout=log.with_suffix(".out").read_text(),
        stderr=log.with_suffix(".err").read_text(),
        wall_s=time.perf_counter() - started_at,
    )


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group this harness started (the command and any child of it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_to_end(
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    timeout_s: float = 600.0,
    progress: Callable[[], object] | None = None,
) -> Finished:
    """Run `argv` to completion; with `progress`, also time when its value first changes."""
    began = time.perf_counter()
    initial = progress() if progress is not None else None
    process = _spawn(argv, env, cwd, log)
    startup = None
    try:
        while process.poll() is None:
            now = time.perf_counter() - began
            if startup is None and progress is not None and progress() != initial:
                startup = now
            if now > timeout_s:
                raise TimeoutError(f"{' '.join(argv)} ran past {timeout_s} s")
            time.sleep(POLL_S)
    except BaseException:
        _kill_group(process)
        raise
    result = _finish(process, began)
    result.startup_s = startup if startup is not None else result.wall_s
    return result


def measure_uninterrupted(
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    progress: Callable[[], object],
    timeout_s: float = 600.0,
) -> Finished:
    """The reference run: to the end, never killed; fails loudly if the command fails."""
    result = run_to_end(argv, env, cwd, log, timeout_s, progress)
    if result.returncode != 0:
        raise AssertionError(f"uninterrupted run failed ({result.returncode}): {result.stderr}")
    return result


def work_window(reference: Finished, kills: int) -> float:
    """Upper bound of the kill delay after first progress, for a loop of `kills` kills.

    One work share per kill: an attempt kills on average half a share after its first
    progress, so `kills` kills use about half the work and leave room for timing noise (a
    loaded machine, an attempt slower than the reference).
    """
    work = max(reference.wall_s - (reference.startup_s or 0.0), 0.05)
    return work / (kills + 1)


def tear_last_line(path: Path, rng: random.Random) -> bool:
    """Cut `path` inside its last line (a power cut mid-write); False if there is no line."""
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        return False  # already torn
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    if len(data) - start < 2:
        return False
    cut = rng.randrange(start + 1, len(data) - 1)  # keep at least a byte, drop the newline
    path.write_bytes(data[:cut])
    return True


def _kill_moment(process, progress, delay_s: float, early: bool, timeout_s: float) -> bool:
    """Wait until the kill moment; False when the process ended by itself before it."""
    began = time.perf_counter()
    if not early:  # the delay counts from this attempt's first progress
        initial = progress()
        while progress() == initial:
            if process.poll() is not None:
                return False
            if time.perf_counter() - began > timeout_s:
                raise TimeoutError("no progress before the timeout")
            time.sleep(POLL_S)
    try:
        process.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        return True
    return False


def kill_and_resume(
    first: Sequence[str],
    resume: Sequence[str],
    *,
    kills: int,
    reference: Finished,
    rng: random.Random,
    env: dict[str, str],
    cwd: Path,
    logs: Path,
    started: Callable[[], bool],
    progress: Callable[[], object],
    finished: Callable[[], bool] | None = None,
    early: float = 0.2,
    tear: Path | None = None,
    tear_probability: float = 0.0,
    timeout_s: float = 600.0,
) -> KillReport:
    """SIGKILL the command `kills` times at random moments (module docstring), then finish.

    Each attempt runs `resume` when `started()` holds, else `first`. An attempt that exits by
    itself before its kill moment must succeed (exit 0) and then the command is complete; with
    kills still owed, the loop stops there and the report says so (the caller asserts the
    count). `finished()`, when given, says the work is done although the process was killed
    (after its last write, before it exited): the loop stops there too, since rerunning a
    command such as `data collect` on finished work is an error by design. After a kill, `tear`
    (a file) is cut inside its last line with `tear_probability`. The final attempt runs to
    the end and must exit 0.
    """
    report = KillReport()
    window = work_window(reference, kills)
    began = time.perf_counter()
    completed = False
    while report.kills < kills:
        if finished is not None and finished():
            completed = True
            break
        report.attempts += 1
        argv = resume if started() else first
        is_early = rng.random() < early
        delay = rng.uniform(0.0, reference.startup_s or 0.0) if is_early else rng.uniform(0, window)
        report.delays_s.append(delay)
        attempt_began = time.perf_counter()
        process = _spawn(argv, env, cwd, logs / f"attempt-{report.attempts:03d}")
        try:
            killed = _kill_moment(process, progress, delay, is_early, timeout_s)
            if killed:
                _kill_group(process)
        except BaseException:
            _kill_group(process)
            raise
        result = _finish(process, attempt_began)
        if killed:
            report.kills += 1
            report.startup_kills += is_early
            if tear is not None and rng.random() < tear_probability:
                report.tears += tear_last_line(tear, rng)
            continue
        if result.returncode != 0:
            raise AssertionError(
                f"attempt {report.attempts} ({' '.join(argv)}) exited {result.returncode}: "
                f"{result.stderr[-2000:]}"
            )
        report.finished_early += 1
        completed = True
        break
    if not completed and not (finished is not None and finished()):
        report.attempts += 1
        final = run_to_end(
            resume if started() else first,
            env,
            cwd,
            logs / f"attempt-{report.attempts:03d}",
            timeout_s,
        )
        if final.returncode != 0:
            raise AssertionError(f"final resume exited {final.returncode}: {final.stderr}")
        report.final = final
    report.wall_s = time.perf_counter() - began
    return report
