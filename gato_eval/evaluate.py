"""The orchestrator of `gato-eval run suite`: a policy, a suite, a run directory, resumable.

`evaluate_suite(RunOptions(...))` resolves the suite and the policy, writes the run's metadata
(`gato_eval.run.directory`), then plays every task's missing episodes through the rollout engine and
appends each episode record the moment it ends. Resuming (`resume=True`) reloads the metadata,
refuses a different suite, seed, episode count or policy, and plays only the episodes that are
not on disk yet, each with the same seed it would have had in one uninterrupted run.

Options left as None take their value from the run being resumed, or else the defaults below.

Optional policy hook: `prepare(tasks) -> dict | None`, called once with all the run's task specs
before the run directory is created. It raises `GatoEvalError` for a task the policy cannot
play (the expert policy on a task without a demonstrator) and may return extra keys for the
run's `policy` metadata block.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.locks import lock_directory
from gato_eval.core.provenance import RECORDED_PACKAGES, code_provenance
from gato_eval.run.directory import EpisodeWriter, Run, create_run, load_run
from gato_eval.run.identity import check_same_run, recorded_suite

DEFAULT_SUITE = "default"
DEFAULT_MODEL = "bundled"
DEFAULT_NUM_ENVS = 8
DEFAULT_STEP_TIMEOUT_S = 300.0  # far beyond any healthy step; catches hung emulators
VIDEO_DIR = "videos"
MAX_EPISODES = 100_000
MAX_ENVS = 1024
MAX_STEP_TIMEOUT_S = 1e6  # eleven days: longer means no timeout at all


@dataclass
class RunOptions:
    """What to evaluate and where. None = take it from the resumed run, else the default."""

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
    step_timeout_s: float | None = DEFAULT_STEP_TIMEOUT_S
    backend: str = "local"  # or "ray": gato_eval.distributed.ray_backend
    ray: Any = None  # ray_backend.RayOptions (address, workers, GPUs, item size)
    argv: list[str] = field(default_factory=lambda: list(sys.argv))


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

    _check_counts(options)
    check_backend(options.backend, options.ray)  # a missing Ray fails before anything is written
    previous = _load_resumed_run(options) if options.resume else None
    if previous is None and options.out is not None:
        _refuse_existing_run(Path(options.out).expanduser())  # before a model is loaded
    settings = _resolve_settings(options, previous)
    if previous is not None and options.suite is None:
        suite = recorded_suite(registry, previous)  # works for suites from a file, too
    else:
        suite = registry.get_suite(settings["suite"])
    if any(task_id.startswith("procgen-") for task_id in suite.tasks):
        from gato_eval.suites.procgen import check_installed

        check_installed()  # an optional extra: refused before anything is written or played
    episodes_per_task = settings["episodes"] or suite.episodes
    policy_args = {  # also how every Ray worker loads its replica
        "spec": settings["model"],
        "device": options.device,
        "prompt": settings["prompt"],
        "prompt_tokens": settings["prompt_tokens"],
        "prompt_source": settings["prompt_source"],
        "temperature": settings["temperature"],
        "window": settings["window"],
    }
    loaded = load_policy(**policy_args)
    tasks = suite.task_specs()  # with the suite's step caps: these specs are what runs record
    prepare = getattr(loaded.policy, "prepare", None)
    if callable(prepare):  # optional: refuse unplayable tasks before anything is written
        loaded.description.update(prepare(tasks) or {})
    metadata = build_metadata(
        suite=suite,
        tasks=tasks,
        episodes_per_task=episodes_per_task,
        seed=settings["seed"],
        num_envs=settings["num_envs"],
        policy=loaded.description,
        label=options.label,
        videos=settings["videos"],
        argv=options.argv,
    )
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
    video_count = int(run.metadata.get("videos") or 0)
    try:
        with EpisodeWriter(run) as writer:
            if options.backend == "ray":
                played = _play_on_ray(
                    options, settings, run, tasks, missing, policy_args, loaded, writer, progress
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
                            plan_episodes(run.metadata["seed"], task.task_id, todo),
                            num_envs=settings["num_envs"],
                            on_episode=on_episode,
                            video_episodes=[e for e in todo if e < video_count],
                            make_env=_env_factory(registry, rendering=video_count > 0),
                            on_steps=progress.env_steps if progress is not None else None,
                            step_timeout_s=options.step_timeout_s,
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


def build_metadata(
    *,
    suite,
    tasks,
    episodes_per_task: int,
    seed: int,
    num_envs: int,
    policy: dict[str, Any],
    label: str | None,
    videos: int,
    argv: list[str],
) -> dict[str, Any]:
    """The run's metadata (keys documented in `gato_eval.run.directory`)."""
    from gato_eval.suites.registry import env_versions

    return {
        "suite": suite.to_dict(),
        "episodes_per_task": int(episodes_per_task),
        "seed": int(seed),
        "num_envs": int(num_envs),
        "tasks": {
            task.task_id: {**task.to_dict(), "env_versions": env_versions(task)} for task in tasks
        },
        "policy": policy,
        "label": label,
        "videos": int(videos),
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


def _play_on_ray(
    options, settings, run, tasks, missing, policy_args, loaded, writer, progress
) -> int:
    """The missing episodes played by Ray workers, recorded here; returns how many."""
    from gato_eval.distributed.ray_backend import run_on_ray
    from gato_eval.distributed.types import RayJob

    job = RayJob(
        tasks=tasks,
        missing=missing,
        episodes_per_task=run.episodes_per_task,
        run_seed=run.metadata["seed"],
        num_envs=settings["num_envs"],
        policy_args=policy_args,
        policy_description=loaded.description,
        video_count=int(run.metadata.get("videos") or 0),
        stall_timeout_s=options.step_timeout_s,
    )
    stats = run_on_ray(job, options.ray, _episode_sink(run, writer, progress), progress)
    return stats.episodes_recorded


def _env_factory(registry, rendering: bool):
    if not rendering:
        return registry.make_env
    return lambda task: registry.make_env(task, render_mode="rgb_array")


def _check_counts(options: RunOptions) -> None:
    checks = [
        ("--episodes", options.episodes, 1, MAX_EPISODES),
        ("--envs", options.num_envs, 1, MAX_ENVS),
        ("--video", options.videos, 0, MAX_EPISODES),
        ("--prompt-tokens", options.prompt_tokens, 0, 1 << 20),
    ]
    for name, value, low, high in checks:
        if value is not None and not low <= value <= high:
            raise GatoEvalError(f"{name} must be in [{low}, {high}], got {value}")
    if options.seed is not None and not 0 <= options.seed < 2**63:
        raise GatoEvalError(f"--seed must be a non-negative integer, got {options.seed}")
    timeout = options.step_timeout_s
    # The OS interval timer overflows past ~1e9 s: `inf` or 1e12 would fail every episode.
    if timeout is not None and not 0 < timeout <= MAX_STEP_TIMEOUT_S:
        raise GatoEvalError(
            f"--step-timeout must be in (0, {MAX_STEP_TIMEOUT_S:g}] seconds, got {timeout}"
        )


def _refuse_existing_run(path: Path) -> None:
    from gato_eval.run.directory import EPISODES_FILE, METADATA_FILE

    if (path / METADATA_FILE).exists() or (path / EPISODES_FILE).exists():
        raise GatoEvalError(
            f"{path} already holds a run: pass --resume to continue it, or choose another --out"
        )
    if path.exists() and not path.is_dir():
        raise GatoEvalError(f"--out {path} exists and is not a directory")


def _load_resumed_run(options: RunOptions) -> Run:
    if options.out is None:
        raise GatoEvalError("--resume needs --out DIR, the run directory to continue")
    return load_run(Path(options.out))


def _resolve_settings(options: RunOptions, previous: Run | None) -> dict[str, Any]:
    """Each setting from the options, else the resumed run, else the default."""
    stored: dict[str, Any] = {}
    if previous is not None:
        meta = previous.metadata
        policy = meta.get("policy") or {}
        prompt = policy.get("prompt") or {}
        sampling = policy.get("sampling") or {}
        stored = {
            "suite": meta["suite"].get("name"),
            "model": policy.get("spec"),
            "episodes": meta.get("episodes_per_task"),
            "seed": meta.get("seed"),
            "num_envs": meta.get("num_envs"),
            "prompt": prompt.get("strategy"),
            "prompt_tokens": prompt.get("tokens"),
            "prompt_source": prompt.get("source"),
            "temperature": sampling.get("temperature"),
            "window": sampling.get("window"),
            "videos": meta.get("videos"),
        }
    defaults = {
        "suite": DEFAULT_SUITE,
        "model": DEFAULT_MODEL,
        "episodes": None,  # the suite's default
        "seed": 0,
        "num_envs": DEFAULT_NUM_ENVS,
        "prompt": "first",
        "prompt_tokens": None,  # the policy's default
        "prompt_source": "auto",
        "temperature": 0.0,
        "window": "recompute",
        "videos": 0,
    }
    given = {
        "suite": options.suite,
        "model": options.model,
        "episodes": options.episodes,
        "seed": options.seed,
        "num_envs": options.num_envs,
        "prompt": options.prompt,
        "prompt_tokens": options.prompt_tokens,
        "prompt_source": options.prompt_source,
        "temperature": options.temperature,
        "window": options.window,
        "videos": options.videos,
    }
    settings = {}
    for name, default in defaults.items():
        value = given[name]
        if value is None:
            value = stored.get(name)
        settings[name] = default if value is None else value
    return settings


def _output_dir(options: RunOptions, suite_name: str) -> Path:
    if options.out is not None:
        return Path(options.out).expanduser()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{suite_name}-{stamp}"
