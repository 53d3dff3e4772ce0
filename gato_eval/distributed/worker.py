"""`EvaluationWorker`: one policy replica and its own envs, inside one Ray actor process.

The class is plain Python; `ray_backend` wraps it with `ray.remote` (so this module imports no
Ray and can be read and tested on its own). A worker:

- loads its policy once, from the driver's `PolicySpec`, and makes one env
  of each family of the run, in `__init__`; a failure is kept and reported by `describe()`
  instead of raised, because Ray turns an exception in an actor's constructor into a bare
  "actor died" without the message;
- `describe()`s itself so the driver can refuse a worker whose model (checkpoint hash, prompt,
  sampling) or package versions differ from the driver's: such a worker would write episodes
  that the run's metadata does not describe;
- plays one work item per `run_item` call, a generator (a Ray streaming generator once wrapped):
  it yields `("steps", n)` about twice a second while envs step and `("episode", EpisodeResult)`
  as each episode ends, so the driver records episodes while the item is still running.

`run_episodes` runs in a helper thread because a generator cannot yield from inside the
engine's callbacks. The engine's SIGALRM step timeout works only in the main thread, so on Ray
the driver enforces it instead: a worker that reports no env step for the step timeout is killed
and its unfinished episodes are played again elsewhere (`ray_backend`).
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gato_eval.core.provenance import RECORDED_PACKAGES
from gato_eval.core.task_spec import TaskSpec
from gato_eval.distributed.work_items import WorkItem
from gato_eval.policies.loading import load_policy, policy_identity
from gato_eval.rollout import run_episodes
from gato_eval.run.settings import PolicySpec
from gato_eval.suites import registry

HEARTBEAT_S = 0.5  # how often step counts are streamed while an item runs


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker of a run gets: how to load the policy and what the run plays.

    `policy` is what `load_policy` builds (the driver's, with a worker's path and device);
    `tasks` maps task id -> the run's (suite-capped) spec; `video_count` > 0 makes envs render
    and keeps frames of episodes below that index; `mujoco_gl` is the driver's MUJOCO_GL, used
    where the worker's own environment sets none.
    """

    policy: PolicySpec
    tasks: dict[str, TaskSpec]
    run_seed: int
    num_envs: int
    video_count: int = 0
    mujoco_gl: str | None = None


def installed_versions() -> dict[str, str | None]:
    """package -> version for the packages a run records (`core.provenance.RECORDED_PACKAGES`)."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def comparable_identity(description: dict[str, Any]) -> dict[str, Any]:
    """`policy_identity` without the device: a replica on a GPU worker is the same policy as the
    driver's copy on its CPU."""

    identity = policy_identity(description)
    if isinstance(identity.get("sampling"), dict):
        identity["sampling"] = {k: v for k, v in identity["sampling"].items() if k != "device"}
    return identity


class EvaluationWorker:
    """A policy replica playing work items (see the module docstring)."""

    def __init__(self, setup: WorkerSetup):
        # Before anything imports dm_control or metaworld: they read MUJOCO_GL once, at import.
        os.environ.setdefault("MUJOCO_GL", setup.mujoco_gl or "egl")
        self.setup = setup
        self.error: str | None = None
        self.policy: Any = None
        self.description: dict[str, Any] = {}
        try:
            loaded = load_policy(setup.policy)
            prepare = getattr(loaded.policy, "prepare", None)
            if callable(prepare):  # same per-run setup as the driver's replica gets
                loaded.description.update(prepare(list(setup.tasks.values())) or {})
            self.policy, self.description = loaded.policy, loaded.description
            _warm_up_simulators(setup.tasks.values())
        except Exception as err:
            traceback.print_exc()  # the whole story goes to the Ray worker log
            self.error = " ".join(f"{type(err).__name__}: {err}".split())[:500]

    def describe(self) -> dict[str, Any]:
        """{error, node, pid, gpus, identity, versions}: what the driver checks before use."""
        return {
            "error": self.error,
            "node": socket.gethostname(),
            "pid": os.getpid(),
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "identity": comparable_identity(self.description) if self.error is None else None,
            "versions": installed_versions(),
        }

    def run_item(self, item: WorkItem) -> Iterator[tuple[str, Any]]:
        """Play `item`; yield ("steps", n) and ("episode", EpisodeResult) messages as they come.

        An exception from the policy (a bug, a broken model) ends the item by raising here, as it
        would end a local run; env faults are failed episodes, as locally.
        """

        if self.error is not None:
            raise RuntimeError(f"this worker could not load its policy: {self.error}")
        task = self.setup.tasks[item.task_id]
        rendering = self.setup.video_count > 0
        messages: queue.SimpleQueue = queue.SimpleQueue()
        steps = _StepCounter()

        def make_env(spec: TaskSpec):
            return registry.make_env(spec, render_mode="rgb_array" if rendering else None)

        def play() -> None:
            try:
                run_episodes(
                    task,
                    self.policy,
                    item.plan(self.setup.run_seed),
                    num_envs=self.setup.num_envs,
                    on_episode=lambda result: messages.put(("episode", result)),
                    video_episodes=[e for e in item.episodes if e < self.setup.video_count],
                    make_env=make_env,
                    on_steps=steps.add,
                )
                messages.put(("done", None))
            except BaseException as err:  # handed to the generator, which raises it to Ray
                messages.put(("error", err))

        thread = threading.Thread(target=play, name=f"play {item.describe()}", daemon=True)
        thread.start()
        while True:
            try:
                kind, payload = messages.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                kind, payload = "tick", None
            count = steps.take()
            if count:
                yield ("steps", count)
            if kind == "episode":
                yield ("episode", payload)
            elif kind in ("done", "error"):
                thread.join()
                if kind == "error":
                    raise payload
                return


def _warm_up_simulators(tasks) -> None:
    """Make and close one env per family of the run, so start-up pays for importing ALE,
    MuJoCo and the rest, not the first work item, and a node with a broken simulator install
    is a worker that cannot start rather than a run full of failed episodes."""

    first_of_family = {}
    for task in tasks:
        first_of_family.setdefault(task.family, task)
    for task in first_of_family.values():
        registry.make_env(task).close()


class _StepCounter:
    """Env steps counted by the engine thread, taken by the streaming generator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self, count: int) -> None:
        with self._lock:
            self._count += count

    def take(self) -> int:
        with self._lock:
            count, self._count = self._count, 0
            return count
