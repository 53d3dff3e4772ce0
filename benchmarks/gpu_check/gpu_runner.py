"""Running one step of the GPU check: its own process group, a hard timeout, output streamed
to the log as it comes, and a status that the report records (ok, failed, timeout, skipped).

A step runs in a new session so that a timeout kills everything it started (a nested
`gato-eval run suite`, a pool of collectors), and one slow or hung step cannot eat the others'
time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StepOutcome:
    """How one step ended. status: ok | failed | timeout | skipped; result: its numbers."""

    name: str
    status: str
    seconds: float = 0.0
    timeout_s: float = 0.0
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StepProcess:
    """A started step: `finish()` waits for it up to its deadline and returns its outcome.

    command: argv; result_file: where the step writes {"result": ...} (or {"error": ...});
    emit: called with every output line, prefixed by the step's name.
    """

    def __init__(self, name, command, timeout_s, result_file: Path, emit, env=None) -> None:
        self.name, self.timeout_s, self.result_file, self.emit = name, timeout_s, result_file, emit
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.tail: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.tail = [*self.tail[-19:], line]
            self.emit(f"[{self.name}] {line}")

    def finish(self) -> StepOutcome:
        left = self.timeout_s - (time.monotonic() - self.started)
        try:
            code = self.process.wait(timeout=max(left, 0.0))
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        self.reader.join(timeout=5)
        seconds = time.monotonic() - self.started
        outcome = StepOutcome(self.name, "ok", seconds, self.timeout_s)
        written = _read_json(self.result_file)
        outcome.result = written.get("result", {})
        if code is None:
            outcome.status = "timeout"
            outcome.error = f"stopped at its {self.timeout_s:.0f} s limit"
        elif code != 0:
            outcome.status = "failed"
            last = written.get("error") or (self.tail[-1] if self.tail else "")
            outcome.error = f"exit code {code}: {last}"[:500]
        return outcome

    def kill(self) -> None:
        """SIGTERM to the whole group, then SIGKILL to what is left after 3 s."""
        for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=grace or None)
                return
            except subprocess.TimeoutExpired:
                continue


def limit_s() -> float:
    """Inside a step: the seconds it was given (its process is killed then), inf if unset."""
    return float(os.environ.get("GATO_GPU_CHECK_LIMIT_S", "inf"))


def skipped(name: str, reason: str) -> StepOutcome:
    return StepOutcome(name, "skipped", error=reason)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
