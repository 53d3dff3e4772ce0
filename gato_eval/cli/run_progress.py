"""What `gato-eval run suite` shows while it plays: the run's `ProgressListener` on step tallies.

One tally per task of the suite, with its step cap from the run's metadata and the lengths of
the episodes a resumed run already has; the display (bars or log lines) is `StepProgress`.
"""

from __future__ import annotations

from gato_eval.progress import StepProgress


class RunProgress:
    """`evaluate.ProgressListener` (plus the Ray backend's `worker_lost`) drawing on `console`."""

    def __init__(self, console):
        self.console = console
        self.display: StepProgress | None = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.display is not None:
            self.display.close()

    def run_started(self, run, missing: dict[str, list[int]]) -> None:
        recorded = run.typed_metadata
        lengths: dict[str, dict[int, int]] = {task_id: {} for task_id in run.task_ids}
        for record in run.episodes:
            if record.get("task") in lengths and isinstance(record.get("length"), int):
                lengths[record["task"]][record["episode"]] = record["length"]
        self.display = StepProgress(self.console, recorded.suite.name)
        for task_id in run.task_ids:
            cap = recorded.tasks.get(task_id, {}).get("max_episode_steps")
            self.display.add(
                task_id,
                task_id,
                run.episodes_per_task,
                cap if isinstance(cap, int) else None,
                lengths[task_id].values(),
            )
        todo = sum(len(episodes) for episodes in missing.values())
        if not self.console.is_terminal:
            _, left = self.display.overall_done_and_left()
            estimate = "" if left is None else f" (up to ~{left:,.0f} env steps)"
            self.display.message(
                f"{self.display.title}: {todo} episodes of {_count(len(run.task_ids), 'task')} "
                "to play"
                f"{estimate}; progress every {self.display.interval_s:g} s"
            )
        self.display.start()

    def task_started(self, task_id: str, planned: int, done: int) -> None:
        self.display.show(task_id)

    def env_steps(self, count: int) -> None:
        self.display.steps(count)

    def episode_finished(self, result) -> None:
        self.display.episode(result.task_id, result.length, result.failed)

    def task_finished(self, task_id: str) -> None:
        self.display.finish(task_id)

    def worker_lost(self, reason: str, requeued: int) -> None:
        self.display.message(
            f"a Ray worker was lost ({reason}); {requeued} episodes will be played again"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
