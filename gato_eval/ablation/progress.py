"""What the ablation shows while it runs: progress over the whole grid and the current stage.

The runner reports to an `AblationProgress`; adapters translate what the data, training and
evaluation code report (collection, training and run listeners) into its stage bar.
`RichProgress` draws two bars on stderr (cells of the grid; the stage at work: collecting,
pretraining, fine-tuning or evaluating, with its own count), or without a terminal prints one
line per stage and per finished cell.
"""

from __future__ import annotations

from typing import Any, Protocol

from gato_eval.progress import make_progress


class AblationProgress(Protocol):
    """Receives the grid's progress (the CLI draws it; `SilentProgress` ignores it)."""

    def grid_started(self, total: int, done: int) -> None: ...

    def stage(self, text: str, total: int | None = None, done: int = 0) -> None: ...

    def advance(self, amount: int = 1, done: int | None = None) -> None: ...

    def message(self, text: str) -> None: ...

    def cell_finished(self, summary: str) -> None: ...

    def finish(self) -> None: ...


class SilentProgress:
    """Shows nothing (library use, tests)."""

    def grid_started(self, total: int, done: int) -> None:
        pass

    def stage(self, text: str, total: int | None = None, done: int = 0) -> None:
        pass

    def advance(self, amount: int = 1, done: int | None = None) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def cell_finished(self, summary: str) -> None:
        pass

    def finish(self) -> None:
        pass


class TrainingStage:
    """A `gato_eval.training.progress.TrainingReporter` that moves the stage bar by steps."""

    def __init__(self, progress: AblationProgress, text: str):
        self.progress = progress
        self.text = text

    def message(self, text: str) -> None:
        self.progress.message(f"  {text}")

    def start(self, first_step: int, total_steps: int) -> None:
        self.progress.stage(self.text, total_steps, first_step)

    def step(self, metrics: dict[str, Any]) -> None:
        self.progress.advance(done=int(metrics["step"]))

    def finish(self) -> None:
        pass


class CollectionStage:
    """A `collection.demonstrations.CollectionProgress` that moves the stage bar by episodes."""

    def __init__(self, progress: AblationProgress):
        self.progress = progress

    def started(self, name: str, total: int, done: int) -> None:
        self.progress.stage(f"collect {name}", total, done)

    def steps(self, count: int) -> None:
        pass

    def episode(self, result) -> None:
        self.progress.advance()

    def building(self) -> None:
        pass


class EvaluationStage:
    """A `gato_eval.evaluate.ProgressListener` that moves the stage bar by episodes."""

    def __init__(self, progress: AblationProgress, text: str):
        self.progress = progress
        self.text = text

    def run_started(self, run, missing: dict[str, list[int]]) -> None:
        total = run.episodes_per_task * len(run.task_ids)
        left = sum(len(indices) for indices in missing.values())
        self.progress.stage(self.text, total, total - left)

    def task_started(self, task_id: str, planned: int, done: int) -> None:
        pass

    def env_steps(self, count: int) -> None:
        pass

    def episode_finished(self, result) -> None:
        self.progress.advance()

    def task_finished(self, task_id: str) -> None:
        pass


class RichProgress:
    """Two rich bars on stderr: the grid's cells and the current stage (see module docstring)."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._bars = None
        self._grid = self._stage = None

    def grid_started(self, total: int, done: int) -> None:
        if not self.console.is_terminal:
            self.message(f"grid: {done} of {total} cells done")
            return
        self._bars = make_progress(self.console)
        self._bars.start()
        self._grid = self._bars.add_task("cells", total=total, completed=done)
        self._stage = self._bars.add_task("", total=None, visible=False)

    def stage(self, text: str, total: int | None = None, done: int = 0) -> None:
        if self._bars is None:
            self.message(text)
            return
        self._bars.reset(self._stage, total=total, completed=done, description=text, visible=True)

    def advance(self, amount: int = 1, done: int | None = None) -> None:
        if self._bars is None:
            return
        if done is not None:
            self._bars.update(self._stage, completed=done)
        else:
            self._bars.advance(self._stage, amount)

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def cell_finished(self, summary: str) -> None:
        self.message(summary)
        if self._bars is not None:
            self._bars.advance(self._grid)

    def finish(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
