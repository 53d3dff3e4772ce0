"""The orchestrator of `gato-eval run suite`: a policy, a suite, a run directory, resumable.

`evaluate_suite(RunOptions(...))` resolves the suite and the policy, writes the run's metadata
(`gato_eval.run.directory`), then plays every task's missing episodes through the rollout engine and
appends each episode record the moment it ends. Resuming (`resume=True`) reloads the metadata,
refuses a different suite, seed, episode count or policy, and plays only the episodes that are
not on disk yet, each with the same seed it would have had in one uninterrupted run.

The run's settings are typed (`gato_eval.run.settings.RunSettings`): what the user gave
(`RunOptions`, None = not given) replaces the defaults, or on `--resume` the settings the run
recorded, and the settings' constructors check the result.

Optional policy hook: `prepare(tasks) -> dict | None`, called once with all the run's task specs
before the run directory is created. It raises `GatoEvalError` for a task the policy cannot
play (the expert policy on a task without a demonstrator) and may return extra keys for the
run's `policy` metadata block.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.locks import lock_directory
from gato_eval.core.provenance import RECORDED_PACKAGES, code_provenance
from gato_eval.run.directory import EpisodeWriter, Run, create_run, load_run, refuse_existing_run
from gato_eval.run.identity import check_same_run, recorded_suite
from gato_eval.run.settings import DEFAULT_STEP_TIMEOUT_S, RunSettings, replace_given

VIDEO_DIR = "videos"


@dataclass
class RunOptions:
    """What the user gave: None = take it from the resumed run, else the default
    (`gato_eval.run.settings.RunSettings` holds the defaults and checks every value)."""

    suite: str | None = None
    model: str | None = None
    episodes: int | None = None
    num_envs: int | None = None
    seed: int | None = None
    prompt: str | None = None
    prompt_tokens: int | None = None
    prompt_source: str | None = None
    temperature: float | None = None
    window: str | None = None
    device: str = "auto"
    out: Path | None = None
    resume: bool = False
    videos: int | None = None
    label: str | None = None
    step_timeout_s: float | None = DEFAULT_STEP_TIMEOUT_S  # None: no step timeout
    threads: int | None = None  # torch CPU threads of this process (None: ROLLOUT_THREADS)
    backend: str = "local"  # or "ray": gato_eval.distributed.ray_backend
    ray: Any = None  # ray_backend.RayOptions (address, workers, GPUs, item size)
    argv: list[str] = field(default_factory=lambda: list(sys.argv))

    def settings(self, recorded: RunSettings | None = None) -> RunSettings:
        """`recorded` (a resumed run's settings; None: the defaults) with what was given
        replaced, checked. The device, step timeout and backend are how this process plays:
        always the options' own."""
        base = recorded or RunSettings()
        policy = base.policy.replace_given(
            spec=self.model,
            device=self.device,
            prompt=self.prompt,
            prompt_tokens=self.prompt_tokens,
            prompt_source=self.prompt_source,
            temperature=self.temperature,
            window=self.window,
        )
        given = replace_given(
            base,
            suite=self.suite,
            episodes=self.episodes,
            seed=self.seed,
            num_envs=self.num_envs,
            videos=self.videos,
            label=self.label,
        )
        return replace(
            given, policy=policy, step_timeout_s=self.step_timeout_s, backend=self.backend
        )


class ProgressListener(Protocol):
    """What a front end (the CLI's rich progress) is told while a run goes."""

    def run_started(self, run: Run, missing: dict[str, list[int]]) -> None: ...
    def task_started(self, task_id: str, planned: int, done: int) -> None: ...
    def env_steps(self, count: int) -> None: ...
    def episode_finished(self, result: Any) -> None: ...
    def task_finished(self, task_id: str) -> None: ...


@dataclass
class RunOutcome:
    """Where the run went and how it ended (counts over the whole run, resumed parts included)."""

    path: Path
    episodes_played: int
    episodes_total: int
    failed: int


class RunInterrupted(GatoEvalError):
    """Ctrl-C during a run: every finished episode is on disk; `--resume` continues."""

    exit_code = 130


def evaluate_suite(options: RunOptions, progress: ProgressListener | None = None) -> RunOutcome:
    """Evaluate a policy on a suite into a run directory (see the module docstring)."""
    from gato_eval.distributed.ray_backend import check_backend
    from gato_eval.policies.loading import load_policy, policy_identity
    from gato_eval.rollout import plan_episodes, run_episodes
    from gato_eval.suites import registry

    settings = options.settings()  # what was given, checked before anything is read
    check_backend(options.backend, options.ray)  # a missing Ray fails before anything is written
    previous = _load_resumed_run(options) if options.resume else None
    if previous is None and options.out is not None:
        refuse_existing_run(Path(options.out).expanduser())  # before a model is loaded
    if previous is not None:
        settings = options.settings(RunSettings.from_metadata(previous.typed_metadata))
    if previous is not None and options.suite is None:
        suite = recorded_suite(registry, previous)  # works for suites from a file, too
    else:
        suite = registry.get_suite(settings.suite)
    if any(task_id.startswith("procgen-") for task_id in suite.tasks):
        from gato_eval.suites.procgen import check_installed

        check_installed()  # an optional extra: refused before anything is written or played
    settings = replace(settings, episodes=settings.episodes or suite.episodes)
    loaded = load_policy(settings.policy)  # every Ray worker loads its replica from it, too
    limit_torch_threads(options.threads)
    tasks = suite.task_specs()  # with the suite's step caps: these specs are what runs record
    prepare = getattr(loaded.policy, "prepare", None)
    if callable(prepare):  # optional: refuse unplayable tasks before anything is written
        loaded.description.update(prepare(tasks) or {})
    metadata = build_metadata(settings, suite, tasks, loaded.description, options.argv)
    if previous is None:
        run = create_run(_output_dir(options, suite.name), metadata)
    else:
        check_same_run(previous, metadata, policy_identity)
        run = previous
    _lock = lock_directory(run.path, "run")  # one writer: a second resume is refused
    missing = run.missing_episodes()
    if progress is not None:
        progress.run_started(run, missing)
    played = 0
    recorded = run.typed_metadata  # a resumed run plays on with its own seed and videos
    try:
        with EpisodeWriter(run) as writer:
            if settings.backend == "ray":
                played = _play_on_ray(
                    options, settings, run, tasks, missing, loaded, writer, progress
                )
            else:
                for task in tasks:
                    todo = missing[task.task_id]
                    planned = run.episodes_per_task
                    if progress is not None:
                        progress.task_started(task.task_id, planned, planned - len(todo))
                    if todo:
                        on_episode = _episode_sink(run, writer, progress)
                        run_episodes(
                            task,
                            loaded.policy,
                            plan_episodes(recorded.seed, task.task_id, todo),
                            num_envs=settings.num_envs,
                            on_episode=on_episode,
                            video_episodes=[e for e in todo if e < recorded.videos],
                            make_env=_env_factory(registry, rendering=recorded.videos > 0),
                            on_steps=progress.env_steps if progress is not None else None,
                            step_timeout_s=settings.step_timeout_s,
                        )
                        played += len(todo)
                    if progress is not None:
                        progress.task_finished(task.task_id)
    except KeyboardInterrupt:
        raise RunInterrupted(
            f"interrupted; finished episodes are saved in {run.path}: continue with "
            f"`gato-eval run suite --resume --out {run.path}`"
        ) from None
    final = load_run(run.path)
    failed = sum(1 for record in final.episodes if record["status"] == "failed")
    return RunOutcome(run.path, played, len(final.episodes), failed)


ROLLOUT_THREADS = 1


def limit_torch_threads(threads: int | None) -> None:
    """Run torch's CPU work in `threads` threads (None: ROLLOUT_THREADS) if a policy loaded
    torch. Why one: batched rollouts run many small forward passes, where intra-op threads only
    add synchronization, and on a busy machine two threads wait on each other: 4 cartpole
    episodes of the bundled model took 25-28 s with one thread and 88 s with torch's default two
    while two other jobs held the cores (identical returns either way). The count does not
    change any result, so runs do not record it."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads or ROLLOUT_THREADS)


def build_metadata(
    settings: RunSettings, suite, tasks, policy: dict[str, Any], argv: list[str]
) -> dict[str, Any]:
    """The run's metadata (keys documented in `gato_eval.run.directory`): `settings` with its
    episodes resolved, the suite and its (capped) task specs, the loaded policy's description."""
    from gato_eval.suites.registry import env_versions

    return {
        "suite": suite.to_dict(),
        **settings.to_dict(),
        "tasks": {
            task.task_id: {**task.to_dict(), "env_versions": env_versions(task)} for task in tasks
        },
        "policy": policy,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "argv": list(argv),
        **code_provenance(RECORDED_PACKAGES),
    }


def _episode_sink(run: Run, writer: EpisodeWriter, progress) -> Callable:
    from gato_eval.recording import write_video

    def on_episode(result) -> None:
        writer.append(result.to_record())
        if result.frames is not None:
            name = f"{result.task_id}-{result.episode:04d}.mp4"
            write_video(run.path / VIDEO_DIR / name, result.frames, result.frames_per_second)
        if progress is not None:
            progress.episode_finished(result)

    return on_episode


def _play_on_ray(options, settings, run, tasks, missing, loaded, writer, progress) -> int:
    """The missing episodes played by Ray workers, recorded here; returns how many."""
    from gato_eval.distributed.ray_backend import run_on_ray
    from gato_eval.distributed.types import RayJob

    job = RayJob(
        tasks=tasks,
        missing=missing,
        episodes_per_task=run.episodes_per_task,
        run_seed=run.typed_metadata.seed,
        num_envs=settings.num_envs,
        policy=settings.policy,
        policy_description=loaded.description,
        video_count=run.typed_metadata.videos,
        stall_timeout_s=settings.step_timeout_s,
    )
    stats = run_on_ray(job, options.ray, _episode_sink(run, writer, progress), progress)
    return stats.episodes_recorded


def _env_factory(registry, rendering: bool):
    if not rendering:
        return registry.make_env
    return lambda task: registry.make_env(task, render_mode="rgb_array")


def _load_resumed_run(options: RunOptions) -> Run:
    if options.out is None:
        raise GatoEvalError("--resume needs --out DIR, the run directory to continue")
    return load_run(Path(options.out))


def _output_dir(options: RunOptions, suite_name: str) -> Path:
    if options.out is not None:
        return Path(options.out).expanduser()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{suite_name}-{stamp}"
