"""`WorkScheduler`: the driver's loop of a Ray run (policy in `ray_backend`'s docstring).

It owns the work queue, the `EpisodeLedger`, the actors and their streaming generators. One
`ray.wait` over every starting worker and running item wakes it when a message is ready (or
every half second, to check for stalled workers); it never blocks on a single worker.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gato_eval.core.errors import GatoEvalError
from gato_eval.distributed.types import RayJob, RayOptions, RayRunStats
from gato_eval.distributed.work_items import (
    EpisodeLedger,
    WorkItem,
    default_item_size,
    split_work,
)
from gato_eval.distributed.worker import (
    EvaluationWorker,
    WorkerSetup,
    comparable_identity,
    installed_versions,
)
from gato_eval.rollout import EpisodeResult, episode_seed
from gato_eval.run.settings import PolicySpec

WAIT_S = 0.5  # the driver's polling period (stall checks happen this often)
WORKER_NAME = "gato-eval-worker"


@dataclass
class _Running:
    actor: Any
    item: WorkItem
    last_heard: float


class WorkScheduler:
    """The scheduling loop of one `run_on_ray` call."""

    def __init__(self, ray, job: RayJob, options: RayOptions, on_episode, progress):
        self.ray, self.job, self.on_episode, self.progress = ray, job, on_episode, progress
        total = sum(len(v) for v in job.missing.values())
        self.stats = RayRunStats()
        self.gpus = self._gpus_per_worker(options)
        workers = options.workers or self._default_workers()
        size = options.item_size or default_item_size(total, workers, job.num_envs)
        self.items = deque(split_work(job.missing, size))
        self.workers = max(1, min(workers, len(self.items)))
        self._check_fits_cluster()
        self.policy = self._worker_policy()
        self.stats.workers, self.stats.gpus_per_worker = self.workers, self.gpus
        self.stats.item_size, self.stats.items = size, len(self.items)
        self.ledger = EpisodeLedger(job.missing)
        self.specs = {task.task_id: task for task in job.tasks}
        self.expected_identity = comparable_identity(job.policy_description)
        self.expected_versions = installed_versions()
        self.remote_class = ray.remote(EvaluationWorker)
        self.name_prefix = f"{WORKER_NAME}-{uuid.uuid4().hex[:8]}"
        self.spawned = 0
        self.starting: dict[Any, Any] = {}  # describe() ref -> actor
        self.idle: list[Any] = []
        self.running: dict[Any, _Running] = {}  # streaming generator -> what it plays
        self.actors: list[Any] = []
        self.started_tasks: set[str] = set()
        self.clock = time.perf_counter()
        self.ready_workers = 0
        self.ready_at: float | None = None  # when the first `workers` workers were all ready
        self.steps_at_ready = 0

    # -- sizing -------------------------------------------------------------------------------

    def _gpus_per_worker(self, options: RayOptions) -> float:
        if options.gpus_per_worker is not None:
            return float(options.gpus_per_worker)
        is_model = self.job.policy_description.get("kind") == "gato"
        return 1.0 if is_model and self._cluster("GPU") >= 1 else 0.0

    def _default_workers(self) -> int:
        if self.gpus > 0:
            return max(1, int(self._cluster("GPU") // self.gpus))
        return max(1, int(self._cluster("CPU")))

    def _cluster(self, resource: str) -> float:
        return float(self.ray.cluster_resources().get(resource, 0.0))

    def _check_fits_cluster(self) -> None:
        cpus, gpus = self._cluster("CPU"), self._cluster("GPU")
        if self.workers > cpus or self.workers * self.gpus > gpus + 1e-9:
            raise GatoEvalError(
                f"{self.workers} Ray workers with 1 CPU and {self.gpus:g} GPUs each do not fit "
                f"the cluster ({cpus:g} CPUs, {gpus:g} GPUs): lower --workers or "
                "--gpus-per-worker"
            )

    def _worker_policy(self) -> PolicySpec:
        policy = self.job.policy
        spec = Path(policy.spec).expanduser()
        if spec.exists():  # workers do not start in our directory
            policy = replace(policy, spec=str(spec.resolve()))
        if self.gpus == 0 and policy.device == "cuda":
            raise GatoEvalError("--device cuda on the ray backend needs --gpus-per-worker > 0")
        if self.gpus == 0 and policy.device == "auto":
            # Ray leaves GPUs visible to an actor granted none: keep such replicas off them.
            policy = replace(policy, device="cpu")
        return policy

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> RayRunStats:
        """Play every wanted episode; returns what happened."""
        self.clock = time.perf_counter()
        announce_complete_tasks(self.job, self.progress)
        for _ in range(self.workers):
            self._spawn()
        while not self.ledger.complete:
            self._dispatch()
            waiting = list(self.starting) + list(self.running)
            if not waiting:
                raise GatoEvalError(
                    f"the Ray run stalled with {self.ledger.remaining} episodes unplayed "
                    "and no worker left"
                )
            ready, _ = self.ray.wait(waiting, num_returns=1, timeout=WAIT_S)
            if ready:  # and whatever else is ready now: one pass serves many workers
                ready, _ = self.ray.wait(waiting, num_returns=len(waiting), timeout=0)
            for handle in ready:
                if handle in self.starting:
                    self._worker_described(handle)
                else:
                    self._drain(handle)
            self._kill_stalled()
        end = time.perf_counter()
        ready_at = self.ready_at or end
        self.stats.startup_s = ready_at - self.clock
        self.stats.rollout_s = end - ready_at
        self.stats.rollout_env_steps = self.stats.env_steps - self.steps_at_ready
        self.stats.duplicates_dropped = self.ledger.duplicates
        return self.stats

    def stop_workers(self) -> None:
        for actor in self.actors:
            self._kill(actor)
        self.actors, self.idle, self.starting, self.running = [], [], {}, {}

    def _kill(self, actor) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.ray.kill(actor)

    def _spawn(self) -> None:
        setup = WorkerSetup(
            policy=self.policy,
            tasks=self.specs,
            run_seed=self.job.run_seed,
            num_envs=self.job.num_envs,
            video_count=self.job.video_count,
            mujoco_gl=os.environ.get("MUJOCO_GL"),
        )
        self.spawned += 1
        actor = self.remote_class.options(
            name=f"{self.name_prefix}-{self.spawned}",
            num_cpus=1,
            num_gpus=self.gpus,
            max_restarts=0,  # the driver replaces lost workers itself, with a fresh item plan
        ).remote(setup)
        self.actors.append(actor)
        self.starting[actor.describe.remote()] = actor

    def _worker_described(self, ref) -> None:
        actor = self.starting.pop(ref)
        try:
            info = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as err:
            self._lose(actor, None, f"worker died while starting: {_first_line(err)}")
            return
        where = f"Ray worker on {info['node']} (pid {info['pid']})"
        if info["error"] is not None:
            raise GatoEvalError(f"{where} could not start: {info['error']}")
        for key, expected in self.expected_identity.items():
            if info["identity"].get(key) != expected:
                raise GatoEvalError(
                    f"{where} loaded a different policy: its {key} is "
                    f"{info['identity'].get(key)!r}, the driver's {expected!r} (give every node "
                    "the same checkpoint)"
                )
        for package, version in self.expected_versions.items():
            theirs = info["versions"].get(package)
            if _release(theirs) != _release(version):
                raise GatoEvalError(
                    f"{where} has {package} {theirs}, the driver {version}: install the same "
                    "versions on every node"
                )
        if info["node"] not in self.stats.nodes:
            self.stats.nodes.append(info["node"])
        self.idle.append(actor)
        self.ready_workers += 1
        if self.ready_at is None and self.ready_workers >= self.workers:
            self.ready_at = time.perf_counter()
            self.steps_at_ready = self.stats.env_steps

    def _dispatch(self) -> None:
        while self.idle and self.items:
            actor, item = self.idle.pop(), self.items.popleft()
            if not self.ledger.unfinished(item):
                self.idle.append(actor)
                continue
            if item.task_id not in self.started_tasks:
                self.started_tasks.add(item.task_id)
                self._notify(
                    "task_started",
                    item.task_id,
                    self.job.episodes_per_task,
                    self.job.episodes_per_task - len(self.job.missing[item.task_id]),
                )
            generator = actor.run_item.remote(item)
            self.running[generator] = _Running(actor, item, time.perf_counter())
        if not self.items:  # release what has nothing left to do (GPUs of a shared cluster)
            for actor in self.idle:
                self._kill(actor)
                self.actors.remove(actor)
            self.idle = []

    def _drain(self, generator) -> None:
        """Take the next message of a ready streaming generator."""
        running = self.running[generator]
        try:
            ref = next(generator)
        except StopIteration:
            del self.running[generator]
            self._item_ended(running)
            return
        try:
            kind, payload = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:  # the policy raised inside the worker
            cause = getattr(err, "cause", None)
            if isinstance(cause, GatoEvalError):
                raise GatoEvalError(f"{cause}") from None
            raise
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.ObjectLostError) as err:
            del self.running[generator]
            self._lose(running.actor, running.item, _first_line(err))
            return
        running.last_heard = time.perf_counter()
        if kind == "steps":
            self.stats.env_steps += payload
            self._notify("env_steps", payload)
        elif kind == "episode":
            self._record(payload)

    def _item_ended(self, running: _Running) -> None:
        # A clean end with episodes unrecorded would be a worker bug; play them again rather
        # than finish a run with holes.
        left = self.ledger.unfinished(running.item)
        if left:
            self.items.appendleft(WorkItem(running.item.task_id, tuple(left)))
        self.idle.append(running.actor)

    def _record(self, result) -> None:
        if not self.ledger.record(result.task_id, int(result.episode)):
            return
        self.stats.episodes_recorded += 1
        self.on_episode(result)
        if self.ledger.task_complete(result.task_id):
            self._notify("task_finished", result.task_id)

    def _kill_stalled(self) -> None:
        timeout = self.job.stall_timeout_s
        if timeout is None:
            return
        now = time.perf_counter()
        for generator, running in list(self.running.items()):
            if now - running.last_heard > timeout:
                del self.running[generator]
                self._lose(running.actor, running.item, f"no env step for {timeout:g} s")

    def _lose(self, actor, item: WorkItem | None, reason: str) -> None:
        """A worker is gone (or hopeless): kill it, re-queue its item's unrecorded episodes,
        give up on episodes lost too often, and start a replacement."""

        self.stats.workers_lost += 1
        self._kill(actor)
        if actor in self.actors:
            self.actors.remove(actor)
        requeued = 0
        if item is not None:
            retry, given_up = self.ledger.lose(item, reason)
            self.items.extendleft(reversed(retry))  # lost work first, in episode order
            requeued = len(retry)
            self.stats.episodes_requeued += requeued
            for lost in given_up:
                self.stats.episodes_given_up += 1
                self._record(
                    EpisodeResult(
                        task_id=lost.task_id,
                        episode=lost.episode,
                        seed=episode_seed(self.job.run_seed, lost.task_id, lost.episode),
                        episode_return=0.0,
                        length=0,
                        success=None,
                        status="failed",
                        error=lost.error,
                    )
                )
        self._notify("worker_lost", reason, requeued)
        budget = 2 * self.workers + 2
        if self.stats.workers_lost > budget:
            raise GatoEvalError(
                f"{self.stats.workers_lost} Ray workers were lost (last: {reason}); the "
                "recorded episodes are saved: fix the cluster and continue with --resume"
            )
        if self.items:
            self._spawn()

    def _notify(self, method: str, *args) -> None:
        _notify(self.progress, method, *args)


def announce_complete_tasks(job: RayJob, progress) -> None:
    """Tasks with nothing to play still get their (full) progress bar, as in a local run."""
    for task in job.tasks:
        if not job.missing.get(task.task_id):
            planned = job.episodes_per_task
            _notify(progress, "task_started", task.task_id, planned, planned)
            _notify(progress, "task_finished", task.task_id)


def _notify(progress, method: str, *args) -> None:
    handler = getattr(progress, method, None) if progress is not None else None
    if callable(handler):
        handler(*args)


def _release(version: str | None) -> str | None:
    """A version without its local label: torch 2.13.0+cu128 on a GPU node is 2.13.0."""
    return None if version is None else version.split("+", 1)[0]


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return " ".join((text[0] if text else type(err).__name__).split())[:300]
