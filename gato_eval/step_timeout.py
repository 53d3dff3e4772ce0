"""Step timeouts: a hung environment `reset`/`step` becomes an exception, through SIGALRM.

The rollout engine (gato_eval.rollout) installs the handler once per `run_episodes` and arms a
deadline around each env call. SIGALRM is delivered to the main thread only, so elsewhere (a
Ray actor's worker thread, say) timeouts are off: `alarm_available()` says which.

Python signal handlers run between bytecodes, so a hang inside one long C call is cut when that
call returns to Python; a loop (in Python or calling back into it) is cut on time.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class StepTimeoutError(RuntimeError):
    """An env's reset or step ran longer than the allowed time."""


def alarm_available() -> bool:
    """Whether this thread can use SIGALRM timers (the main thread of a POSIX process)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def alarm_handler(enabled: bool) -> Iterator[None]:
    """While open (and `enabled`), SIGALRM raises StepTimeoutError; the old handler is restored."""
    if not enabled:
        yield
        return

    def on_alarm(signum, frame):
        raise StepTimeoutError("no answer within the step timeout")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        yield
    finally:
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise StepTimeoutError in this (main) thread if the block outlives `seconds` (None: no
    limit). Needs `alarm_handler` open around it."""
    if seconds is None:
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
