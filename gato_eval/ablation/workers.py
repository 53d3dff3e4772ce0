"""Where the ablation's jobs run: in the runner's own process, or N at a time in worker processes.

`start_jobs(context, progress, workers)` returns one of two runners of `jobs.run_job` with the
same small interface (`capacity`, `busy`, `submit`, `wait`, `close`), so the grid's scheduler
(`runner.py`) is one loop for both:

- `InlineJobs` (`--workers 1`): a job runs as it is submitted, reporting to the grid's own
  progress bars, exactly as a sequential run always did.
- `ProcessJobs` (`--workers N`): one freshly spawned process per job, at most N at a time. Spawned,
  never forked (torch's threads and the simulators' GL contexts do not survive a fork); a fresh
  process per job also returns every job's memory to the machine. What a job reports (stage
  names, messages) arrives as lines through its pipe. A worker ignores Ctrl-C and, on Linux,
  dies with the runner (PR_SET_PDEATHSIG): the runner alone decides to stop it, so no worker is
  ever left writing into a results directory whose lock its runner no longer holds. A stopped
  job loses at most the work since its last checkpoint (see `jobs.py`).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from gato_eval.ablation.jobs import CellJob, JobContext, PretrainJob, run_job
from gato_eval.ablation.progress import AblationProgress
from gato_eval.core.errors import GatoEvalError

Job = PretrainJob | CellJob
STOP_GRACE_S = 30.0  # how long a stopped worker may take to exit before it is killed


def start_jobs(context: JobContext, progress: AblationProgress, workers: int):
    """An `InlineJobs` for one worker, else a `ProcessJobs` running up to `workers` jobs."""
    if workers == 1:
        return InlineJobs(context, progress)
    return ProcessJobs(context, progress, workers)


class InlineJobs:
    """Runs each job in this process when it is submitted; `wait` hands back the results."""

    capacity = 1

    def __init__(self, context: JobContext, progress: AblationProgress):
        self.context, self.progress = context, progress
        self._finished: list[tuple[Job, Any]] = []

    @property
    def busy(self) -> int:
        return len(self._finished)

    def submit(self, job: Job) -> None:
        self._finished.append((job, run_job(self.context, job, self.progress)))

    def wait(self) -> list[tuple[Job, Any]]:
        finished, self._finished = self._finished, []
        return finished

    def close(self) -> None:
        pass


@dataclass
class _Worker:
    job: Job
    process: Any  # multiprocessing.Process
    connection: Any  # the runner's end of the job's pipe
    outcome: tuple[str, Any] | None = field(default=None)  # ("done", result) | ("error", exc)


class ProcessJobs:
    """Runs up to `capacity` jobs at once, each in a spawned process (see module docstring)."""

    def __init__(self, context: JobContext, progress: AblationProgress, workers: int):
        import multiprocessing

        self.context, self.progress, self.capacity = context, progress, workers
        self._spawn = multiprocessing.get_context("spawn")
        self._running: list[_Worker] = []
        # One stage for the whole run: the workers' own stages arrive as lines.
        progress.stage(f"{workers} workers at work (their stages are listed as lines)")

    @property
    def busy(self) -> int:
        return len(self._running)

    def submit(self, job: Job) -> None:
        receiver, sender = self._spawn.Pipe(duplex=False)
        process = self._spawn.Process(
            target=_worker_main,
            args=(self.context, job, sender, os.getpid()),
            name=f"gato-eval {job.describe()}",
        )
        process.start()
        self.progress.message(f"start {job.describe()} (pid {process.pid})")
        sender.close()  # the worker holds the only writing end: its exit reads as end of file
        self._running.append(_Worker(job, process, receiver))

    def wait(self) -> list[tuple[Job, Any]]:
        """Block until at least one job ends; its (job, result). A job's error is raised."""
        from multiprocessing.connection import wait as wait_for_any

        finished: list[tuple[Job, Any]] = []
        while not finished:
            wait_for_any([w.connection for w in self._running])
            for worker in list(self._running):
                if not self._read(worker):
                    continue  # still at work
                self._running.remove(worker)
                worker.process.join()
                worker.connection.close()
                finished.append((worker.job, self._result_of(worker)))
        return finished

    def close(self) -> None:
        """Stop every job still running (they resume from their checkpoints next time)."""
        for worker in self._running:
            worker.process.terminate()
        for worker in self._running:
            worker.process.join(STOP_GRACE_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self._running = []

    def _read(self, worker: _Worker) -> bool:
        """Pass on what the worker reported; whether its pipe is closed (the job has ended)."""
        try:
            while worker.connection.poll():
                kind, value = worker.connection.recv()
                if kind == "message":
                    self.progress.message(value)
                else:
                    worker.outcome = (kind, value)
        except (EOFError, OSError):
            return True
        return False

    def _result_of(self, worker: _Worker):
        if worker.outcome is None:
            code = worker.process.exitcode
            raise GatoEvalError(
                f"the worker process of '{worker.job.describe()}' ended without a result (exit "
                f"code {code}): rerun the same command to continue from its checkpoints"
            )
        kind, value = worker.outcome
        if kind == "error":
            raise value
        return value


class _PipeProgress:
    """A worker's `AblationProgress`: stage names and messages travel to the runner as lines."""

    def __init__(self, connection):
        self.connection = connection

    def grid_started(self, total: int, done: int) -> None:
        pass

    def stage(self, text: str, total: int | None = None, done: int = 0) -> None:
        self.message(text)

    def advance(self, amount: int = 1, done: int | None = None) -> None:
        pass

    def message(self, text: str) -> None:
        self.connection.send(("message", text))

    def cell_finished(self, summary: str) -> None:
        self.message(summary)

    def finish(self) -> None:
        pass


def _worker_main(context: JobContext, job: Job, connection, runner_pid: int) -> None:
    """A worker process: run one job, send ("done", result) or ("error", exception)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the runner, which stops us
    _exit_with_runner(runner_pid)
    if context.threads:
        import torch

        torch.set_num_threads(context.threads)
    try:
        outcome = ("done", run_job(context, job, _PipeProgress(connection)))
    except BaseException as err:  # every failure goes back to the runner
        outcome = ("error", _sendable(err, job))
    connection.send(outcome)
    connection.close()


def _exit_with_runner(runner_pid: int) -> None:
    """On Linux, have the kernel end this process when the runner ends, however it ends."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != runner_pid:  # the runner ended before the line above took effect
        os._exit(1)


def _sendable(err: BaseException, job: Job) -> BaseException:
    """`err` if it survives pickling (the runner then raises the same one-line error), else an
    error carrying its traceback. A stop the job itself took (the trainer saves a checkpoint on
    SIGINT and raises KeyboardInterrupt) becomes the grid's interruption (exit code 130)."""
    if isinstance(err, KeyboardInterrupt):
        stopped = GatoEvalError(
            f"{job.describe()} was interrupted in its worker process (its progress is saved): "
            "rerun the same command to continue"
        )
        stopped.exit_code = 130
        return stopped
    if isinstance(err, GatoEvalError):
        try:
            pickle.loads(pickle.dumps(err))
            return err
        except Exception:  # an unpicklable error: sent as text below
            pass
    text = traceback.format_exc()
    return RuntimeError(f"{job.describe()} failed in its worker process:\n{text}")
