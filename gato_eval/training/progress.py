"""What a training run shows and logs (a rich progress bar and `metrics.csv`), and how Ctrl-C
asks it to stop (`StopRequest`).

metrics.csv has one row per optimizer step:

    step, lr, loss, grad_norm, tokens, tokens_seen, tokens_per_s, wall_s,
    eval_loss, eval_loss/<source>...   (empty except on evaluation steps)

`loss` is the training loss of that step's batch (mean over its text and action targets);
`eval_loss` the mean over every held-back target of the fixed evaluation batches, and one
column per source (task id, `text`, `captions`). On resume the rows after the checkpoint's step
are dropped first, so the file reads as one uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import threading
from pathlib import Path
from typing import Any, Protocol

from gato_eval.core.durable import write_text_atomic
from gato_eval.core.errors import GatoEvalError
from gato_eval.progress import make_progress

METRICS_FILE = "metrics.csv"
BASE_COLUMNS = (
    "step",
    "lr",
    "loss",
    "grad_norm",
    "tokens",
    "tokens_seen",
    "tokens_per_s",
    "wall_s",
    "eval_loss",
)


class MetricsLog:
    """Appends rows to OUT/metrics.csv (flushed per row, fsynced on `sync`)."""

    def __init__(self, out: Path, eval_sources: list[str], resume_step: int | None = None):
        self.path = Path(out) / METRICS_FILE
        self.columns = [*BASE_COLUMNS, *(f"eval_loss/{name}" for name in eval_sources)]
        kept = self._rows_up_to(resume_step) if resume_step is not None else []
        # The kept rows go to a temporary file that replaces metrics.csv in one rename: a kill
        # mid-rewrite must leave the old history, not a truncated one (resume drops nothing
        # that a later resume could restore).
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        try:
            write_text_atomic(self.path, buffer.getvalue(), newline="")
            self._handle = open(self.path, "a", newline="")  # noqa: SIM115 (held for appends)
        except OSError as err:
            raise GatoEvalError(f"cannot write {self.path}: {err.strerror}") from None
        self._writer = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="ignore")

    def _rows_up_to(self, step: int) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        text = self.path.read_text()
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            try:
                if int(row["step"]) <= step:
                    rows.append(row)
            except (KeyError, TypeError, ValueError):
                continue  # a row torn by a crash
        return rows

    def append(self, row: dict[str, Any]) -> None:
        self._writer.writerow({key: _format(value) for key, value in row.items()})
        self._handle.flush()

    def sync(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def read_metrics(out: Path) -> list[dict[str, str]]:
    """The rows of OUT/metrics.csv as dicts of strings."""
    path = Path(out) / METRICS_FILE
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class TrainingReporter(Protocol):
    """Receives the run's messages and per-step metrics (the CLI shows them)."""

    def message(self, text: str) -> None: ...

    def start(self, first_step: int, total_steps: int) -> None: ...

    def step(self, metrics: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...


class SilentReporter:
    """Shows nothing (library use, tests)."""

    def message(self, text: str) -> None:
        pass

    def start(self, first_step: int, total_steps: int) -> None:
        pass

    def step(self, metrics: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


class RichReporter:
    """A rich progress bar on stderr: step, loss, evaluation loss, tokens/s, time left.

    Without a terminal (a log file, a CI job) it prints one plain line per evaluation instead.
    """

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress = None
        self._task = None
        self._last_eval: float | None = None

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def start(self, first_step: int, total_steps: int) -> None:
        if not self.console.is_terminal:
            return
        self._progress = make_progress(self.console, stats_field="stats")
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=total_steps, completed=first_step, stats=""
        )

    def step(self, metrics: dict[str, Any]) -> None:
        if metrics.get("eval_loss") is not None:
            self._last_eval = float(metrics["eval_loss"])
        evaluation = f" eval {self._last_eval:.3f}" if self._last_eval is not None else ""
        stats = (
            f"loss {metrics['loss']:.3f}{evaluation} lr {metrics['lr']:.2e} "
            f"{metrics['tokens_per_s']:,.0f} tok/s"
        )
        if self._progress is not None:
            self._progress.update(self._task, completed=metrics["step"], stats=stats)
        elif metrics.get("eval_loss") is not None:
            self.message(f"step {metrics['step']}: {stats}")

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class StopRequest:
    """Ctrl-C asks the loop to stop after the current step (a checkpoint is saved there); a
    second Ctrl-C interrupts at once. Only in the main thread, where signals can be caught."""

    def __enter__(self) -> StopRequest:
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
