"""`collect_demonstrations`: play a task's demonstrator and store the episodes as a data set.

The episodes are played by the rollout engine (`gato_eval.rollout.run_episodes`) with recorded
trajectories; episode `i` is reset with `episode_seed(seed, task_id, i, "collection")`, so a
collection is a pure function of (task, demonstrator, noise, seed, episode indices). The
collection seed stream is not the evaluation one: a data set collected with `--seed 0` does not
hold the initial states `run suite --seed 0` evaluates (and might prompt with). Each collection
record states its `seed_derivation`; records without one (data sets collected before the streams
were split, the bundled prompts among them) used the evaluation derivation,
"gato-eval/{run_seed}/{task_id}/{index}".

Durability: each finished episode is written at once to its own file in the staging directory
(`datasets.staging_path`), atomically. An interrupted collection (Ctrl-C, a crash, a killed
machine) resumes when the same command is run again: staged episodes are kept, only the missing
ones are played. When all are there, the data set is built in the staging directory, stamped
complete, and renamed into place (`datasets.install_dataset`): a data set directory never holds
half a collection.

Existing data: collecting into a data set that exists needs `overwrite` (the new data set
replaces the old one once it is complete) or `append` (new episodes are added after the stored
ones, only if task spec, demonstrator version, noise and simulator versions all match).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gato_eval.core.durable import file_sha256, write_json_atomic
from gato_eval.core.errors import GatoEvalError
from gato_eval.core.locks import lock_directory
from gato_eval.core.provenance import code_provenance
from gato_eval.data import datasets as store
from gato_eval.data.minari_io import (
    append_staged_episodes,
    create_storage,
    read_staged_episode_summary,
    update_metadata,
    write_staged_episode,
)
from gato_eval.experts import has_expert, make_expert
from gato_eval.rollout import plan_episodes, run_episodes, seed_derivation
from gato_eval.suites.registry import env_versions, get_task, make_env

COLLECTION_FILE = store.COLLECTION_PLAN_FILE
SEED_STREAM = "collection"  # gato_eval.rollout.SEED_STREAMS: never the evaluation seeds
MAX_EPISODES = 1_000_000


class CollectionProgress:
    """What a front end is told during a collection (the CLI draws a rich progress bar)."""

    def started(self, name: str, total: int, done: int) -> None: ...

    def steps(self, count: int) -> None: ...

    def episode(self, result) -> None: ...

    def building(self) -> None: ...


def collect_demonstrations(
    task_id: str,
    episodes: int,
    noise: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
    append: bool = False,
    num_envs: int = 1,
    data_dir: Path | str | None = None,
    restart: bool = False,
    progress: CollectionProgress | None = None,
) -> store.DatasetInfo:
    """Record `episodes` demonstrations of `task_id` into its data set; returns the data set.

    `noise` as in `gato_eval.experts` (Gaussian sigma or epsilon); `seed` the run seed of the
    episode seeds; `num_envs` environments stepped together; `restart` discards an unfinished
    collection of this data set instead of resuming it. See the module docstring for
    `overwrite` / `append`.
    """
    spec = get_task(task_id)
    if not has_expert(task_id):
        make_expert(spec, noise)  # raises the one-line error that lists the covered tasks
    _check_numbers(episodes, noise, seed, num_envs)
    if overwrite and append:
        raise GatoEvalError("--overwrite and --append exclude each other")
    name = store.dataset_name(task_id, noise)
    _lock = lock_directory(store.datasets_root(data_dir) / ".locks" / name, "data set")
    final = store.dataset_path(name, data_dir)
    store.recover_interrupted_installs(data_dir)
    existing = _existing_dataset(final, name, overwrite, append, episodes)
    expert = make_expert(spec, noise)
    header = {
        "task": spec.to_dict(),
        "demonstrator": expert.describe(),
        "env_versions": env_versions(spec),
    }
    if existing is not None and append:
        _check_appendable(existing, header)
    first = existing.episodes if existing is not None and append else 0
    staging = store.staging_path(name, data_dir)
    derivation = seed_derivation(SEED_STREAM)
    plan = {
        "name": name,
        "seed": int(seed),
        "seed_derivation": derivation,
        "first_index": first,
        **header,
    }
    collection_id = _prepare_staging(staging, plan, restart)
    wanted = list(range(first, first + episodes))
    staged = _staged_files(staging, wanted)
    missing = [i for i in wanted if i not in staged]
    if progress is not None:
        progress.started(name, len(wanted), len(wanted) - len(missing))
    if missing:
        failures = _play(spec, expert, seed, missing, num_envs, staging, progress)
        if failures:
            raise GatoEvalError(
                f"{len(failures)} of {len(missing)} episodes failed (first: {failures[0]}); the "
                "others are kept: rerun the same command to retry the failed ones"
            )
        staged = _staged_files(staging, wanted)
    if progress is not None:
        progress.building()
    collection = {
        "seed": int(seed),
        "seed_derivation": derivation,
        "first_index": first,
        "episodes": episodes,
        "num_envs": int(num_envs),
        "collection_id": collection_id,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **_code_provenance(),
    }
    build = _build(spec, staging, existing if append else None, [staged[i] for i in wanted])
    _stamp(build, name, header, existing if append else None, collection, staging, wanted)
    store.install_dataset(build, name, data_dir)
    shutil.rmtree(staging, ignore_errors=True)
    return store.read_dataset_info(final)


def _check_numbers(episodes: int, noise: float, seed: int, num_envs: int) -> None:
    if not isinstance(episodes, int) or not 1 <= episodes <= MAX_EPISODES:
        raise GatoEvalError(f"--episodes must be an integer in [1, {MAX_EPISODES}], got {episodes}")
    if not isinstance(seed, int) or seed < 0:
        raise GatoEvalError(f"--seed must be a non-negative integer, got {seed}")
    if not isinstance(num_envs, int) or not 1 <= num_envs <= 256:
        raise GatoEvalError(f"--num-envs must be an integer in [1, 256], got {num_envs}")
    if not (isinstance(noise, int | float) and noise >= 0 and noise == noise):
        raise GatoEvalError(f"--noise must be a number >= 0, got {noise}")


def _existing_dataset(final: Path, name: str, overwrite: bool, append: bool, episodes: int):
    if not final.exists():
        return None
    if not (overwrite or append):
        try:
            count = f" ({store.read_dataset_info(final).episodes} episodes)"
        except GatoEvalError:
            count = " (corrupted)"
        raise GatoEvalError(
            f"data set {name} already exists{count} at {final}: pass --overwrite to replace "
            f"it, or --append to add {episodes} more episodes"
        )
    if overwrite:
        return None  # replaced when the new one is complete; its content does not matter
    return store.read_dataset_info(final)  # appending needs a sound data set: errors surface


def _check_appendable(existing: store.DatasetInfo, header: dict[str, Any]) -> None:
    mismatches = [
        label
        for label, old, new in (
            ("task spec", existing.task, header["task"]),
            ("demonstrator", existing.demonstrator, header["demonstrator"]),
            ("simulator versions", existing.env_versions, header["env_versions"]),
        )
        if _jsonable(old) != _jsonable(new)
    ]
    if mismatches:
        raise GatoEvalError(
            f"cannot append to {existing.name}: its {' and '.join(mismatches)} differ from "
            "what would be recorded now; use --overwrite to replace it"
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _prepare_staging(staging: Path, plan: dict[str, Any], restart: bool) -> str:
    """Start or reopen the staging directory of `plan`; returns the collection's id.

    The id is random, written once into the plan file and stamped into the installed data
    set's collection record: a staging directory left behind by a process killed right after
    the install is recognized by it (`datasets.recover_interrupted_installs`) and removed.
    """
    plan_file = staging / COLLECTION_FILE
    if staging.exists() and restart:
        shutil.rmtree(staging)
    if plan_file.exists():
        try:
            old = json.loads(plan_file.read_text())
        except (OSError, ValueError):
            old = None
        settings = {k: v for k, v in old.items() if k != "collection_id"} if old else None
        if settings != _jsonable(plan):
            raise GatoEvalError(
                f"an unfinished collection of {plan['name']} with other settings is in "
                f"{staging}: rerun it with its own settings to resume it, or pass --restart "
                "to discard it"
            )
        return str(old.get("collection_id", ""))
    (staging / "episodes").mkdir(parents=True, exist_ok=True)
    collection_id = uuid.uuid4().hex
    write_json_atomic(plan_file, _jsonable({**plan, "collection_id": collection_id}))
    return collection_id


def _staged_file(staging: Path, index: int) -> Path:
    return staging / "episodes" / f"episode-{index:08d}.hdf5"


def _staged_files(staging: Path, wanted: list[int]) -> dict[int, Path]:
    """index -> file for the wanted episodes already staged (unreadable ones are dropped)."""
    found = {}
    for index in wanted:
        path = _staged_file(staging, index)
        if not path.exists():
            continue
        try:
            read_staged_episode_summary(path)
        except (OSError, KeyError):
            path.unlink()  # torn by a crash mid-write (the rename makes this rare): replay it
            continue
        found[index] = path
    return found


def _play(spec, expert, seed: int, missing: list[int], num_envs: int, staging: Path, progress):
    """Play the missing episodes; each is staged as it ends. Returns the failure messages."""
    failures: list[str] = []

    def on_episode(result) -> None:
        if result.failed or result.trajectory is None:
            failures.append(f"episode {result.episode}: {result.error}")
        else:
            trajectory = result.trajectory
            trajectory.extras["episode_index"] = result.episode
            path = _staged_file(staging, result.episode)
            try:
                write_staged_episode(path, trajectory)
            except OSError as err:
                raise GatoEvalError(f"cannot write {path}: {err.strerror or err}") from None
        if progress is not None:
            progress.episode(result)

    on_steps: Callable[[int], None] | None = progress.steps if progress is not None else None
    # minigrid prints its level generator's retries ("Sampling rejected: ...") on stdout, once
    # per reset; they would bury the progress bar and any output a script reads.
    with contextlib.redirect_stdout(io.StringIO()):
        run_episodes(
            spec,
            expert,
            plan_episodes(seed, spec.task_id, missing, SEED_STREAM),
            num_envs=min(num_envs, len(missing)),
            on_episode=on_episode,
            record_trajectories=True,
            on_steps=on_steps,
        )
    return failures


def _build(spec, staging: Path, existing: store.DatasetInfo | None, files: list[Path]) -> Path:
    """The finished data set in `staging/build`: the old episodes (when appending), then ours."""
    build = staging / "build"
    if build.exists():
        shutil.rmtree(build)  # a build interrupted before its install: redo it
    if existing is not None:
        shutil.copytree(existing.path, build)
    else:
        env = make_env(spec)  # for its spaces, which Minari records
        with contextlib.suppress(Exception):
            env.close()
        create_storage(build / "data", env.observation_space, env.action_space, {})
    append_staged_episodes(build / "data", files)
    return build


def _stamp(build, name, header, existing, collection, staging, wanted) -> None:
    """Write the metadata that makes `build` a complete data set (the last write before install)."""
    from importlib import metadata as importlib_metadata

    summaries = [read_staged_episode_summary(_staged_file(staging, i)) for i in wanted]
    columns: dict[str, list] = {key: [] for key in ("index", "seed", "return", "length", "success")}
    if existing is not None:
        for key, values in (
            ("index", existing.indices),
            ("seed", existing.seeds),
            ("return", existing.returns),
            ("length", existing.lengths),
            ("success", existing.successes),
        ):
            columns[key].extend(values)
    for summary in summaries:
        for key in columns:
            columns[key].append(summary[key])
    demonstrator = header["demonstrator"]
    minari_fields = {
        "dataset_id": f"{name}{store.MINARI_SUFFIX}",
        "algorithm_name": store.demonstrator_label(demonstrator),
        "author": {"gato-eval"},
        "description": (
            f"gato-eval demonstrations of {header['task']['task_id']} "
            f"({header['task']['env_id']}) by {demonstrator['name']}, noise "
            f"{demonstrator['noise']:g} ({demonstrator['noise_kind']}); labels are the clean "
            "expert actions, executed actions are in infos/executed_actions when they differ."
        ),
        "minari_version": importlib_metadata.version("minari"),
        "requirements": [f"{pkg}=={ver}" for pkg, ver in header["env_versions"].items()],
        "total_episodes": len(columns["return"]),
        "total_steps": int(sum(columns["length"])),
    }
    data_path = build / "data"
    if existing is not None:
        # Keys Minari refuses to update were written by the first collection already.
        minari_fields = {
            k: v for k, v in minari_fields.items() if k not in ("dataset_id", "minari_version")
        }
    update_metadata(data_path, minari_fields)
    main = data_path / "main_data.hdf5"
    collections = list(existing.collections) if existing is not None else []
    block = {
        "format_version": store.FORMAT_VERSION,
        "name": name,
        **header,
        "collections": [*collections, collection],
        "episodes": columns,
        "main_file_bytes": main.stat().st_size,
        "main_file_sha256": file_sha256(main),
        "complete": True,
    }
    update_metadata(data_path, {"gato_eval": block})


def _code_provenance() -> dict[str, Any]:
    """`core.provenance.code_provenance` under the data-set format's own key names (stored in every
    collection record since format version 1, so they stay)."""
    provenance = code_provenance()
    return {
        "gato_eval_version": provenance["code_version"],
        "git_revision": provenance["git_revision"],
        "git_dirty": provenance["git_dirty"],
    }
