"""What `gato-eval data collect` and `data reference` show while episodes play.

The `data.collect.CollectionProgress` protocol (`started`, `steps`, `episode`, `building`) on one
`StepProgress` tally: a bar in a terminal, a line every interval in a log. Episodes already
staged by an interrupted collection count as done; their lengths are not read back, so the steps
left are estimated from the episodes this process finishes.
"""

from __future__ import annotations

from gato_eval.progress import StepProgress


class CollectionProgress:
    """One data set's (or one random-score measurement's) episodes and env steps."""

    def __init__(self, console):
        self.console = console
        self.display: StepProgress | None = None
        self.name = ""

    def __enter__(self) -> CollectionProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.display is not None:
            self.display.close()

    def started(self, name: str, total: int, done: int) -> None:
        self.name = name
        self.display = StepProgress(self.console, name, overall=False)
        self.display.add(name, name, total, cap=None, done=done)
        if not self.console.is_terminal:
            self.display.message(
                f"{name}: {total - done} episodes to play; progress every "
                f"{self.display.interval_s:g} s"
            )
        self.display.start()  # not before: an early one-line error stays one line
        self.display.show(name)

    def steps(self, count: int) -> None:
        if self.display is not None:
            self.display.steps(count)

    def episode(self, result) -> None:
        self.display.episode(self.name, result.length, result.failed)

    def building(self) -> None:
        if self.display is not None:
            self.display.log_status()  # every log ends its episodes with their final tally
            self.display.message(f"{self.name}: writing the data set")
