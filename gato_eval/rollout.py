"""The rollout engine: the only loop in gato-eval that steps environments.

`run_episodes` plays a fixed list of episodes of one task with a batched policy over `num_envs`
environment slots and reports each finished episode through a callback.

Rules it keeps (../DESIGN.md "Known traps"):

- **Episode quotas are fixed up front.** With K = min(num_envs, len(episodes)) slots, slot k
  plays `episodes[k::K]`, in order, assigned before the first step. A slot that finishes its
  quota goes idle; it never steals work. So with many slots the short episodes are not
  over-counted (the bias of "record whatever finishes first until N episodes are in").
- **One seed per episode.** Every episode is reset with its own seed, `episode_seed(run_seed,
  task_id, episode_index)`, so for a deterministic policy an episode's result depends only on
  (run seed, task, episode index): not on `num_envs`, on the slot it ran in, or on scheduling.
  Resumed runs and the Ray backend rely on this. Where a family decides more than the seed
  per episode (Meta-World's goal variant, `suites.metaworld.goal_variant`), `plan_episodes`
  derives it from the same three arguments and the engine passes it as `reset(options=...)`.
- **No autoreset.** The engine drives K single `gymnasium.Env`s and calls `env.reset(seed=...)`
  itself when an episode ends, instead of a gymnasium vector env. Gymnasium >= 1.1 vector envs
  autoreset (NEXT_STEP mode: the step after `done` is a reset whose action is ignored; SAME_STEP:
  the final observation moves to `info`), and both seed an env only at the first vector reset,
  so per-episode seeding would be inexact. ALE's native vector env is also not used: it resets
  inside its C++ threads with its own seeds, which breaks the seed rule above. Measured, the
  single-env loop costs about what SyncVectorEnv does (benchmarks/bench_rollout.py).
- **Context reset timing.** `policy.reset(slot, seed)` is called exactly once per episode, after
  that episode's `env.reset` succeeded and before the first `act` that sees its first observation;
  the policy's token context for the slot must start empty there. An action is never computed
  from an observation of a finished episode: the first row a slot contributes after a reset is
  the reset observation.
- **Faulty environments.** An exception in `reset` or `step` (a MuJoCo physics error, a crashed
  emulator, a step that outlives `step_timeout_s`) ends that episode as `status="failed"` with
  the error text; the slot's env is closed and re-made, and the run goes on. Exceptions from the
  policy are bugs (or a broken model) and propagate: the run is resumable.

Optional policy attribute: after `act`, a policy may expose `last_action_labels` (same shape as
the returned actions, or None). Recorded trajectories then store these labels as the episode's
actions and the executed actions in `extras["executed_actions"]`; demonstrators with noise
injection use it to label data with their clean action (../TRAINING_NOTES.md, DART).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.policy import Policy
from gato_eval.core.task_spec import TaskSpec
from gato_eval.episode_plan import (
    SEED_STREAMS,
    PlannedEpisode,
    episode_reset_options,
    episode_seed,
    plan_episodes,
    seed_derivation,
)
from gato_eval.recording import (
    EpisodeResult,
    FrameRecorder,
    TrajectoryRecorder,
    render_fps,
    stack_observations,
)
from gato_eval.step_timeout import StepTimeoutError, alarm_available, alarm_handler, deadline
from gato_eval.suites import registry

# The episode plan lives in gato_eval.episode_plan; it is re-exported here, where callers that
# play episodes already import from.
__all__ = [
    "SEED_STREAMS",
    "EpisodeResult",
    "PlannedEpisode",
    "StepTimeoutError",
    "assign_quotas",
    "episode_reset_options",
    "episode_seed",
    "plan_episodes",
    "run_episodes",
    "seed_derivation",
    "stack_observations",
]


def assign_quotas(episodes: Sequence[PlannedEpisode], num_envs: int) -> list[list[PlannedEpisode]]:
    """Split episodes over slots before stepping: slot k gets `episodes[k::num_envs]`.

    Returns min(num_envs, len(episodes)) lists; none is empty.
    """
    if num_envs < 1:
        raise GatoEvalError(f"the number of environments must be >= 1, got {num_envs}")
    slots = min(num_envs, len(episodes))
    return [list(episodes[k::slots]) for k in range(slots)]


EnvFactory = Callable[[TaskSpec], Any]


@dataclass
class _Slot:
    """What the engine knows about one environment slot while it runs its quota."""

    index: int
    queue: deque
    episode: int = -1
    seed: int = 0
    observation: dict | None = None
    episode_return: float = 0.0
    length: int = 0
    success: bool = False
    started: float = 0.0
    active: bool = False
    trace: TrajectoryRecorder | None = None
    frames: FrameRecorder | None = None


def run_episodes(
    task: TaskSpec,
    policy: Policy,
    episodes: Sequence[PlannedEpisode | tuple[int, int]],
    num_envs: int,
    on_episode: Callable[[EpisodeResult], None] | None = None,
    record_trajectories: bool = False,
    video_episodes: Collection[int] = (),
    make_env: EnvFactory | None = None,
    on_steps: Callable[[int], None] | None = None,
    step_timeout_s: float | None = None,
) -> list[EpisodeResult]:
    """Play `episodes` (`plan_episodes`, or bare (episode_index, seed) pairs, which reset
    without options) of `task` with `policy` on `num_envs` slots.

    Each finished episode is passed to `on_episode` as soon as it ends (before the next one in
    its slot starts), and all results are returned in the order of `episodes`. `make_env(task)`
    builds one env (default: the suite registry's `make_env`); `video_episodes` lists episode
    indices whose frames are kept in `EpisodeResult.frames`; `on_steps(n)` reports n env steps
    after every batched step (for progress bars). `step_timeout_s` bounds each `reset`/`step`
    through SIGALRM (main thread only; ignored elsewhere): a hung env fails its episode.
    """
    if not episodes:
        return []
    episodes = [PlannedEpisode(*episode) for episode in episodes]
    seen = [episode.index for episode in episodes]
    if len(set(seen)) != len(seen):
        raise GatoEvalError(f"{task.task_id}: episode indices must be unique")
    make_env = make_env or _registry_make_env
    engine = _Engine(task, policy, make_env, record_trajectories, set(video_episodes))
    engine.step_timeout_s = step_timeout_s if alarm_available() else None
    quotas = assign_quotas(episodes, num_envs)
    results: dict[int, EpisodeResult] = {}

    def finish(result: EpisodeResult) -> None:
        results[result.episode] = result
        if on_episode is not None:
            on_episode(result)

    engine.finish = finish
    with alarm_handler(engine.step_timeout_s is not None):
        engine.play(quotas, on_steps)
    return [results[episode.index] for episode in episodes]


def _registry_make_env(task: TaskSpec):
    # Looked up at call time, so a test's monkeypatched `registry.make_env` is the one used.
    return registry.make_env(task)


class _Engine:
    """The slots, their envs and the per-step bookkeeping of `run_episodes`."""

    def __init__(self, task, policy, make_env, record_trajectories, video_episodes):
        self.task = task
        self.policy = policy
        self.make_env = make_env
        self.record = record_trajectories
        self.video_episodes = video_episodes
        self.envs: list[Any] = []  # live list handed to policy.start; re-made envs replace items
        self.slots: list[_Slot] = []
        self.step_timeout_s: float | None = None
        self.finish: Callable[[EpisodeResult], None] = lambda result: None

    def open(self, quotas: list[list[PlannedEpisode]]) -> None:
        for k, quota in enumerate(quotas):
            self.slots.append(_Slot(index=k, queue=deque(quota)))
            self.envs.append(None)
            try:
                self.envs[k] = self.make_env(self.task)
            except GatoEvalError:
                raise
            except Exception as err:  # the env cannot even be made: fail this slot's quota
                self._fail_quota(self.slots[k], f"making the env failed: {_describe(err)}")

    def play(self, quotas: list[list[PlannedEpisode]], on_steps) -> None:
        """Open the slots, play every quota to its end; the policy and envs are always closed."""
        try:
            self.open(quotas)
            if all(env is None for env in self.envs):
                return  # every episode failed already
            self.policy.start(self.task, self.envs)
            for slot in self.slots:
                self.begin_next_episode(slot)
            while True:
                active = [slot for slot in self.slots if slot.active]
                if not active:
                    break
                self.step(active)
                if on_steps is not None:
                    on_steps(len(active))
        finally:
            with contextlib.suppress(Exception):
                self.policy.close()
            self.close()

    def close(self) -> None:
        for env in self.envs:
            if env is not None:
                with contextlib.suppress(Exception):
                    env.close()

    # -- episode boundaries -------------------------------------------------------------------

    def begin_next_episode(self, slot: _Slot) -> None:
        """Reset the slot's env for the next episode of its quota (or make the slot idle)."""
        slot.active = False
        while slot.queue and self.envs[slot.index] is not None:
            episode, seed, options = slot.queue.popleft()
            slot.episode, slot.seed = episode, seed
            slot.started = time.perf_counter()
            try:
                # Options only where the plan has some: a minimal env may take just the seed.
                extra = {} if options is None else {"options": options}
                with deadline(self.step_timeout_s):
                    observation, _ = self.envs[slot.index].reset(seed=seed, **extra)
            except Exception as err:
                self._fail_episode(slot, f"reset failed: {_describe(err)}")
                continue
            slot.observation = observation
            slot.episode_return, slot.length, slot.success = 0.0, 0, False
            slot.trace = TrajectoryRecorder() if self.record else None
            if slot.trace is not None:
                slot.trace.add_observation(observation)
            slot.frames = FrameRecorder() if episode in self.video_episodes else None
            self._capture_frame(slot)
            self.policy.reset(slot.index, seed)
            slot.active = True
            return

    def step(self, active: list[_Slot]) -> None:
        """One batched policy call and one env step in every active slot."""
        batch = stack_observations([slot.observation for slot in active])
        indices = np.array([slot.index for slot in active], dtype=np.int64)
        actions = self.policy.act(batch, indices)
        if len(actions) != len(active):
            raise GatoEvalError(
                f"{self.task.task_id}: the policy returned {len(actions)} actions "
                f"for {len(active)} observations"
            )
        labels = getattr(self.policy, "last_action_labels", None) if self.record else None
        for row, slot in enumerate(active):
            action = actions[row]
            try:
                with deadline(self.step_timeout_s):
                    observation, reward, terminated, truncated, info = self.envs[slot.index].step(
                        action
                    )
            except Exception as err:
                self._fail_episode(slot, f"step {slot.length + 1} failed: {_describe(err)}")
                self.begin_next_episode(slot)
                continue
            slot.episode_return += float(reward)
            slot.length += 1
            if info.get("success"):
                slot.success = True
            if slot.length >= self.task.max_episode_steps:
                truncated = True  # safety net; the family's TimeLimit normally does this
            if slot.trace is not None:
                label = labels[row] if labels is not None else None
                slot.trace.add_step(action, label, reward, terminated, truncated)
                slot.trace.add_observation(observation)
            slot.observation = observation
            self._capture_frame(slot)
            if terminated or truncated:
                self._finish_episode(slot)
                self.begin_next_episode(slot)

    def _finish_episode(self, slot: _Slot) -> None:
        success = slot.success if self.task.has_success else None
        result = EpisodeResult(
            task_id=self.task.task_id,
            episode=slot.episode,
            seed=slot.seed,
            episode_return=slot.episode_return,
            length=slot.length,
            success=success,
            wall_s=time.perf_counter() - slot.started,
            slot=slot.index,
            trajectory=(
                slot.trace.build(self.task.task_id, slot.seed, success) if slot.trace else None
            ),
            frames=slot.frames.frames() if slot.frames is not None else None,
            frames_per_second=render_fps(self.envs[slot.index]),
        )
        slot.trace, slot.frames = None, None
        self.finish(result)

    def _fail_episode(self, slot: _Slot, error: str) -> None:
        self.finish(
            EpisodeResult(
                task_id=self.task.task_id,
                episode=slot.episode,
                seed=slot.seed,
                episode_return=slot.episode_return if slot.active else 0.0,
                length=slot.length if slot.active else 0,
                success=None,
                status="failed",
                error=error,
                wall_s=time.perf_counter() - slot.started,
                slot=slot.index,
            )
        )
        slot.active, slot.trace, slot.frames = False, None, None
        slot.episode_return, slot.length = 0.0, 0
        # The env may be in any state after raising: throw it away and make a fresh one.
        with contextlib.suppress(Exception):
            self.envs[slot.index].close()
        self.envs[slot.index] = None
        try:
            self.envs[slot.index] = self.make_env(self.task)
        except Exception as err:
            self._fail_quota(slot, f"re-making the env failed: {_describe(err)}")

    def _fail_quota(self, slot: _Slot, error: str) -> None:
        while slot.queue:
            slot.episode, slot.seed, _ = slot.queue.popleft()
            slot.started = time.perf_counter()
            self.finish(
                EpisodeResult(
                    task_id=self.task.task_id,
                    episode=slot.episode,
                    seed=slot.seed,
                    episode_return=0.0,
                    length=0,
                    success=None,
                    status="failed",
                    error=error,
                    slot=slot.index,
                )
            )

    # -- recording ----------------------------------------------------------------------------

    def _capture_frame(self, slot: _Slot) -> None:
        if slot.frames is not None:
            slot.frames.capture(self.envs[slot.index], slot.observation)


def _describe(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "(no message)"
    return f"{type(err).__name__}: {text}"[:500]
