"""Progress of the long commands, driven by env steps: bars in a terminal, lines in a log.

An episode of a 1,000-step task takes a while; counting only finished episodes left bars at
`0/N` with no ETA for minutes. So the unit here is the env step: each task (or data set) has a
`StepTally` of its episodes and steps, and the steps still to play are estimated as the episodes
left times the mean length of the task's finished episodes (its step cap before the first one
ends). The time left is those steps over the recent steps/s.

`StepProgress` draws the tallies: rich bars when its console is a terminal; otherwise (nox, CI,
batch jobs, `| tee log`) one plain line every `GATO_EVAL_PROGRESS_INTERVAL` seconds (default 30)
from a timer thread, so a log shows progress even while one slow step runs.

`make_progress` is the shared rich bar layout of the training and ablation displays.
rich is imported when a display is made, not at import.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass

INTERVAL_ENV = "GATO_EVAL_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0
RATE_WINDOW_S = 60.0  # steps/s is measured over the last minute: a slow task shows soon
REFRESH_S = 0.1  # the rich bars are updated at most this often from step callbacks
WIDE_TERMINAL = 100  # columns from which the bars also show steps/s and the elapsed time


def make_progress(console, *, stats_field: str | None = None):
    """A rich `Progress` drawing on `console` (not started).

    `stats_field` names a task field shown after the count (`add_task(..., rate="")` for
    `stats_field="rate"`). Descriptions and stats are printed as written, without rich markup:
    they hold task ids, data set names and numbers, never styling.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn()]
    if stats_field is not None:
        columns.append(TextColumn(f"{{task.fields[{stats_field}]}}", markup=False))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console)


@dataclass
class StepTally:
    """Episodes and env steps of one task: what is done and an estimate of what is left.

    Steps "counted" are the ones this process saw (finished episodes and the ones in flight);
    `lengths` sums the lengths of finished episodes, those found on disk by a resume included.
    """

    planned: int  # episodes
    done: int = 0  # finished episodes (failed ones included)
    cap: int | None = None  # the step cap of one episode; None when unknown
    lengths: int = 0  # steps of the finished episodes whose length is known
    measured: int = 0  # how many finished episodes `lengths` covers
    counted: int = 0  # env steps this process counted for this task
    finished_here: int = 0  # steps of the episodes this process finished

    def episode_steps(self) -> float | None:
        """Expected length of an episode not played yet: the mean so far, else the cap."""
        return self.lengths / self.measured if self.measured else self.cap

    def in_flight(self) -> int:
        return max(0, self.counted - self.finished_here)

    def finish_episode(self, length: int) -> None:
        self.done += 1
        self.lengths += length
        self.measured += 1
        self.finished_here += length

    def left(self, in_flight: int | None = None) -> float | None:
        """Steps still to play (None when unknown); `in_flight` overrides this task's own count."""
        per_episode = self.episode_steps()
        if per_episode is None:
            return None
        flying = self.in_flight() if in_flight is None else in_flight
        return max(0.0, (self.planned - self.done) * per_episode - flying)


class StepProgress:
    """Tallies of several tasks (optionally an overall one) and their display (module docstring).

    Call `add` for every task up front (the overall estimate needs them all), `show` when one
    starts, `steps(n)` after every batched env step, `episode` when an episode ends, `finish`
    when a task is done; use it as a context manager. Steps are attributed to a task when it is
    the only one shown and unfinished (local runs); with several at once (Ray) they count
    toward the overall tally only, and each task moves with its finished episodes.
    """

    def __init__(
        self, console, title: str, *, overall: bool = True, interval_s: float | None = None
    ):
        self.console = console
        self.title = title
        self.overall = overall
        self.interval_s = interval_s if interval_s is not None else _interval_from_env()
        self.tallies: dict[str, StepTally] = {}
        self.labels: dict[str, str] = {}
        self.active: list[str] = []  # shown and not finished, in start order
        self.counted = 0  # all steps this process counted
        self.finished_here = 0  # steps of all episodes finished here
        self.failed = 0
        self.started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque()  # (time, steps) of the last minute
        self._lock = threading.Lock()  # the log thread reads what the main thread changes
        self._live = console.is_terminal
        self._bars = None
        self._bar_ids: dict[str, int] = {}
        self._last_refresh = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- events --------------------------------------------------------------------------------

    def add(
        self, key: str, label: str, planned: int, cap: int | None, lengths=(), done=None
    ) -> None:
        """Register a task: `planned` episodes, `cap` steps at most each, `lengths` of the
        episodes already finished (a resumed run's); `done` finished episodes when their lengths
        are not known (default: as many as `lengths`)."""
        lengths = [int(n) for n in lengths]
        done = len(lengths) if done is None else done
        with self._lock:
            self.tallies[key] = StepTally(planned, done, cap, sum(lengths), len(lengths))
            self.labels[key] = label

    def start(self) -> None:
        """Begin drawing (bars) or logging (the timer thread); not before work starts, so an
        early one-line error stays one line."""
        if self._live:
            if self._bars is None:
                self._bars = _step_bars(self.console)
                self._bars.start()
                if self.overall:
                    self._bar_ids[""] = self._bars.add_task(self.title, total=None, **_EMPTY)
                self._refresh()
        elif self._thread is None and self.interval_s > 0:
            self._thread = threading.Thread(target=self._log_loop, daemon=True, name="progress")
            self._thread.start()

    def show(self, key: str) -> None:
        with self._lock:
            if key not in self.active:
                self.active.append(key)
        if self._bars is not None and key not in self._bar_ids:
            indent = "  " if self.overall else ""
            description = indent + self.labels[key]
            self._bar_ids[key] = self._bars.add_task(description, total=None, **_EMPTY)
        self._refresh()

    def steps(self, count: int) -> None:
        with self._lock:
            self.counted += count
            if len(self.active) == 1:
                self.tallies[self.active[0]].counted += count
            now = time.monotonic()
            self._samples.append((now, self.counted))
            while len(self._samples) > 2 and now - self._samples[1][0] > RATE_WINDOW_S:
                self._samples.popleft()
        if now - self._last_refresh >= REFRESH_S:
            self._refresh()

    def episode(self, key: str, length: int, failed: bool = False) -> None:
        with self._lock:
            self.tallies[key].finish_episode(int(length))
            self.finished_here += int(length)
            self.failed += bool(failed)
        self._refresh()

    def finish(self, key: str) -> None:
        with self._lock:
            if key in self.active:
                self.active.remove(key)
        if not self._live and self.interval_s > 0:
            tally = self.tallies[key]
            self.console.print(
                f"done {self.labels[key]}: {tally.done}/{tally.planned} episodes, "
                f"{tally.lengths:,} steps ({_clock(time.monotonic() - self.started)} into the run)",
                markup=False,
                highlight=False,
            )
        self._refresh()

    def message(self, text: str) -> None:
        """A line above the bars (or in the log)."""
        self.console.print(text, markup=False, highlight=False)

    def log_status(self) -> None:
        """In a log (not a terminal), the status line now rather than at the next interval:
        the final tally before a step that plays no episodes, which the timer may never reach."""
        if not self._live and self.interval_s > 0:
            self.console.print(self.status_line(), markup=False, highlight=False)

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._bars is not None:
            self._refresh()
            self._bars.stop()
            self._bars = None

    # -- numbers -------------------------------------------------------------------------------

    def rate(self) -> float | None:
        """Env steps per second over about the last minute; None before two samples."""
        if len(self._samples) < 2:
            return None
        # Up to now, not to the last step: while a step (or an env's start) stalls, the rate
        # falls and the time left grows instead of freezing.
        (t0, n0), (_, n1) = self._samples[0], self._samples[-1]
        elapsed = time.monotonic() - t0
        return (n1 - n0) / elapsed if elapsed > 0 and n1 > n0 else None

    def overall_done_and_left(self) -> tuple[int, float | None]:
        """(steps done, steps left or None) over every task; steps in flight count once."""
        in_flight = max(0, self.counted - self.finished_here)
        done = sum(t.lengths for t in self.tallies.values()) + in_flight
        lefts = [t.left(in_flight=0) for t in self.tallies.values()]
        if any(left is None for left in lefts):
            return done, None
        return done, max(0.0, sum(lefts) - in_flight)

    def status_line(self) -> str:
        """The plain progress line of a log (also what a test reads)."""
        with self._lock:
            tallies = list(self.tallies.items())
            active = list(self.active)
            done, left = self.overall_done_and_left()
            rate = self.rate()
        episodes = sum(t.done for _, t in tallies)
        planned = sum(t.planned for _, t in tallies)
        parts = [f"{episodes}/{planned} episodes", _steps_text(done, left)]
        if rate is not None:
            parts.append(f"{rate:,.0f} steps/s")
            if left is not None:
                parts.append(f"{_clock(left / rate)} left")
        if self.failed:
            parts.append(f"{self.failed} failed")
        line = f"[{_clock(time.monotonic() - self.started)}] {self.title}: " + ", ".join(parts)
        for key in active[:3] if self.overall else ():
            tally = dict(tallies)[key]
            line += f" | {self.labels[key]} {tally.done}/{tally.planned} episodes, " + _steps_text(
                tally.lengths + tally.in_flight(), tally.left()
            )
        return line

    # -- drawing -------------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._bars is None:
            return
        self._last_refresh = time.monotonic()
        with self._lock:
            rate = self.rate()
            rows = []
            if self.overall:
                done, left = self.overall_done_and_left()
                episodes = sum(t.done for t in self.tallies.values())
                planned = sum(t.planned for t in self.tallies.values())
                extra = f", {self.failed} failed" if self.failed else ""
                speed = f"{rate:,.0f} steps/s{extra}" if rate is not None else extra.lstrip(", ")
                rows.append(("", done, left, episodes, planned, speed))
            for key in self._bar_ids:
                if key:
                    tally = self.tallies[key]
                    done = tally.lengths + tally.in_flight()
                    rows.append((key, done, tally.left(), tally.done, tally.planned, ""))
        for key, done, left, episodes, planned, speed in rows:
            self._bars.update(
                self._bar_ids[key],
                completed=done,
                total=None if left is None else done + left,
                episodes=f"{episodes}/{planned} ep",
                steps=_steps_text(done, left, percent=False),  # the bar shows it
                rate=speed,
            )

    def _log_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.console.print(self.status_line(), markup=False, highlight=False)


_EMPTY = {"episodes": "", "steps": "", "rate": ""}


def _step_bars(console):
    # Counts and time left first; the rate and the elapsed time only where they fit (rich
    # squeezes every column of a row that is too wide, cutting the numbers to "…").
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column

    columns = [
        TextColumn(
            "{task.description}",
            markup=False,
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=32),
        ),
        BarColumn(bar_width=8),
        TextColumn("{task.fields[episodes]}", markup=False),
        TextColumn("{task.fields[steps]}", markup=False),
        TimeRemainingColumn(),
    ]
    if console.width >= WIDE_TERMINAL:
        columns += [TextColumn("{task.fields[rate]}", markup=False), TimeElapsedColumn()]
    return Progress(*columns, console=console)


def _steps_text(done: float, left: float | None, percent: bool = True) -> str:
    if left is None:
        return f"{done:,.0f} steps"
    total = done + left
    share = f" ({100 * done / total if total else 100:.0f}%)" if percent else ""
    return f"{done:,.0f}/{total:,.0f} steps{share}"


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _interval_from_env() -> float:
    text = os.environ.get(INTERVAL_ENV, "")
    try:
        return float(text) if text else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S
