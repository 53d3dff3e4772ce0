"""Demonstration data sets: names, where they live, what they hold, loading them back.

One Minari data set per task and noise setting, under `gato_eval.core.paths.datasets_dir()`:

    <root>/<name>-v0/data/{metadata.json, main_data.hdf5}   a complete data set
    <root>/.staging/<name>/                                 a collection in progress

`<name>` is the task id (`atari-pong`) for clean demonstrations and `<task id>-noise<sigma>` with
the decimal point written `p` (`dmc-cartpole-swingup-noise0p3`) for noise-injected ones (Minari
ids allow no dots). `<name>-v0` is the Minari dataset id, so with
`MINARI_DATASETS_PATH=<root>`, `minari.load_dataset("atari-pong-v0")` opens it too.

Only a finished collection is moved (renamed) to `<root>/<name>-v0`, and its metadata carries
`gato_eval.complete = true` plus the byte size and SHA-256 of `main_data.hdf5`; a directory
without them is reported as corrupted, never read as a data set. Besides Minari's own fields,
metadata.json holds a `gato_eval` block: the task spec, demonstrator (name, version, noise),
simulator versions, every collection call (seed, episode range, date, versions) and per-episode
index, seed, return, length and success.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gato_eval.core.durable import file_sha256, fsync_directory
from gato_eval.core.episode import Episode
from gato_eval.core.errors import GatoEvalError, close_matches
from gato_eval.core.paths import datasets_dir
from gato_eval.data.minari_io import MAIN_FILE, METADATA_FILE, count_episodes, read_episodes
from gato_eval.scores.expert_rule import windowed_expert_score

FORMAT_VERSION = 1
MINARI_SUFFIX = "-v0"
STAGING = ".staging"
COLLECTION_PLAN_FILE = "collection.json"  # the plan of an unfinished collection, in its staging dir
_NOISE_SUFFIX = re.compile(r"^(?P<task>.+)-noise(?P<noise>\d+(?:p\d+)?)$")


def dataset_name(task_id: str, noise: float = 0.0) -> str:
    """`task_id` for clean data, `<task_id>-noise0p3` for noise 0.3 (file- and Minari-safe)."""
    noise = float(noise)
    if noise == 0:
        return task_id
    digits = f"{noise:.6f}".rstrip("0").rstrip(".")  # never exponent notation: 1e-05 -> 0.00001
    return f"{task_id}-noise{digits.replace('.', 'p')}"


def split_dataset_name(name: str) -> tuple[str, float]:
    """(task id, noise) of a data set name (the inverse of `dataset_name`)."""
    match = _NOISE_SUFFIX.match(name)
    if match is None:
        return name, 0.0
    return match["task"], float(match["noise"].replace("p", "."))


def demonstrator_label(demonstrator: dict[str, Any]) -> str:
    """ "dmc-cartpole-lqr-energy v1", "metaworld-scripted metaworld-3.1.1": name and version."""
    version = str(demonstrator["version"])
    return f"{demonstrator['name']} {'v' if version[:1].isdigit() else ''}{version}"


def datasets_root(data_dir: Path | str | None = None) -> Path:
    """`data_dir` or the default `datasets_dir()`."""
    return Path(data_dir).expanduser() if data_dir is not None else datasets_dir()


def dataset_path(name: str, data_dir: Path | str | None = None) -> Path:
    """The directory of data set `name` (it may not exist)."""
    return datasets_root(data_dir) / f"{name}{MINARI_SUFFIX}"


def staging_path(name: str, data_dir: Path | str | None = None) -> Path:
    """Where a collection into data set `name` keeps its work until it is complete."""
    return datasets_root(data_dir) / STAGING / name


@dataclass(frozen=True)
class DatasetInfo:
    """What a complete data set holds, from its metadata (no episode is read).

    Per-episode tuples are in stored order: `indices` (collection episode index), `seeds`,
    `returns`, `lengths`, `successes` (None where the task defines no success).
    """

    name: str
    task_id: str
    noise: float
    path: Path
    indices: tuple[int, ...]
    seeds: tuple[int, ...]
    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    successes: tuple[bool | None, ...]
    demonstrator: dict[str, Any]
    task: dict[str, Any]
    env_versions: dict[str, str]
    collections: tuple[dict[str, Any], ...]
    size_bytes: int
    sha256: str
    metadata: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def episodes(self) -> int:
        return len(self.returns)

    @property
    def steps(self) -> int:
        return int(sum(self.lengths))

    @property
    def mean_return(self) -> float:
        return math.fsum(self.returns) / len(self.returns) if self.returns else math.nan

    @property
    def success_rate(self) -> float | None:
        """Fraction of successful episodes, None where the task defines no success."""
        flags = [s for s in self.successes if s is not None]
        return sum(flags) / len(flags) if flags else None

    @property
    def expert_score(self) -> float:
        """The paper's expert return of this data set (`scores.windowed_expert_score`)."""
        return windowed_expert_score(self.returns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what `gato-eval data info --json` prints)."""
        return {
            "name": self.name,
            "task_id": self.task_id,
            "noise": self.noise,
            "path": str(self.path),
            "episodes": self.episodes,
            "steps": self.steps,
            "mean_return": self.mean_return,
            "expert_score": self.expert_score,
            "success_rate": self.success_rate,
            "demonstrator": self.demonstrator,
            "env_versions": self.env_versions,
            "collections": list(self.collections),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "task": self.task,
        }


def list_datasets(data_dir: Path | str | None = None) -> list[DatasetInfo]:
    """Every complete, readable data set under the root, sorted by name."""
    infos = []
    for path in _candidate_dirs(data_dir):
        try:
            infos.append(read_dataset_info(path))
        except GatoEvalError:
            continue
    return sorted(infos, key=lambda info: info.name)


def find_problems(data_dir: Path | str | None = None) -> list[tuple[str, str]]:
    """(name, what is wrong) for corrupted data sets and unfinished collections."""
    problems = []
    for path in _candidate_dirs(data_dir):
        try:
            read_dataset_info(path)
        except GatoEvalError as err:
            problems.append((path.name.removesuffix(MINARI_SUFFIX), str(err)))
    staging_root = datasets_root(data_dir) / STAGING
    if staging_root.is_dir():
        for staged in sorted(p for p in staging_root.iterdir() if p.is_dir()):
            done = len(list((staged / "episodes").glob("episode-*.hdf5")))
            problems.append(
                (
                    staged.name,
                    f"unfinished collection ({done} episodes staged in {staged}): rerun the "
                    "same `gato-eval data collect` command to resume it",
                )
            )
    return problems


def _candidate_dirs(data_dir) -> list[Path]:
    root = datasets_root(data_dir)
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.is_dir() and p.name.endswith(MINARI_SUFFIX)
    )  # fmt: skip


def dataset_info(
    dataset: str, noise: float | None = None, data_dir: Path | str | None = None
) -> DatasetInfo:
    """The complete data set named `dataset`, or the one of task `dataset` (see `resolve`)."""
    return read_dataset_info(dataset_path(resolve_dataset(dataset, noise, data_dir), data_dir))


def resolve_dataset(
    dataset: str, noise: float | None = None, data_dir: Path | str | None = None
) -> str:
    """The data set name meant by `dataset` (a data set name or a task id) and `noise`.

    For a task id without `noise`: its clean data set if it exists, else its only data set;
    several noise variants and no clean one is an error that lists them.
    """
    recover_interrupted_installs(data_dir)
    if noise is not None:
        task_id, _ = split_dataset_name(dataset)
        name = dataset_name(task_id, noise)
        if not dataset_path(name, data_dir).is_dir():
            raise _missing(name, data_dir)
        return name
    if dataset_path(dataset, data_dir).is_dir():
        return dataset
    variants = [
        p.name.removesuffix(MINARI_SUFFIX)
        for p in _candidate_dirs(data_dir)
        if split_dataset_name(p.name.removesuffix(MINARI_SUFFIX))[0] == dataset
    ]
    if len(variants) == 1:
        return variants[0]
    if variants:
        raise GatoEvalError(
            f"task {dataset} has several data sets ({', '.join(variants)}): pass --noise or the "
            "data set name"
        )
    raise _missing(dataset, data_dir)


def _missing(name: str, data_dir) -> GatoEvalError:
    known = [p.name.removesuffix(MINARI_SUFFIX) for p in _candidate_dirs(data_dir)]
    task_id, noise = split_dataset_name(name)
    noise_flag = f" --noise {noise:g}" if noise else ""
    return GatoEvalError(
        f"no data set '{name}' in {datasets_root(data_dir)}{close_matches(name, known)}; "
        f"make it with `gato-eval data collect --task {task_id} --episodes N{noise_flag}`"
    )


def read_dataset_info(path: Path) -> DatasetInfo:
    """Read and check a data set directory's metadata; anything wrong is a one-line error."""
    name = path.name.removesuffix(MINARI_SUFFIX)
    data_path = path / "data"

    def corrupted(reason: str) -> GatoEvalError:
        return GatoEvalError(
            f"data set {name} ({path}) is corrupted: {reason}; delete it or recollect with "
            "`gato-eval data collect ... --overwrite`"
        )

    try:
        metadata = json.loads((data_path / METADATA_FILE).read_text())
    except FileNotFoundError:
        raise corrupted(f"{METADATA_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise corrupted(f"{METADATA_FILE} is unreadable ({err})") from None
    block = metadata.get("gato_eval") if isinstance(metadata, dict) else None
    if not isinstance(block, dict) or block.get("format_version") != FORMAT_VERSION:
        raise corrupted("not a gato-eval data set (no gato_eval block of format 1)")
    if block.get("complete") is not True:
        raise corrupted("its collection never finished")
    if block.get("name") != name:  # data are found by their recorded task, not the directory
        raise corrupted(
            f"it holds data set {block.get('name')!r}, not {name!r} (a renamed or copied "
            "directory would be trained on as its original task)"
        )
    main = data_path / MAIN_FILE
    if not main.is_file():
        raise corrupted(f"{MAIN_FILE} is missing")
    if main.stat().st_size != block.get("main_file_bytes"):
        raise corrupted(f"{MAIN_FILE} has {main.stat().st_size} bytes, not the recorded size")
    try:
        episodes = block["episodes"]
        fields = ("index", "seed", "return", "length", "success")
        columns = {key: tuple(episodes[key]) for key in fields}
        if len({len(column) for column in columns.values()}) != 1:
            raise ValueError("per-episode lists differ in length")
        if metadata.get("total_episodes") != len(columns["return"]):
            raise ValueError("episode count differs from Minari's total_episodes")
        info = DatasetInfo(
            name=name,
            task_id=str(block["task"]["task_id"]),
            noise=float(block["demonstrator"]["noise"]),
            path=path,
            indices=tuple(int(i) for i in columns["index"]),
            seeds=tuple(int(s) for s in columns["seed"]),
            returns=tuple(float(r) for r in columns["return"]),
            lengths=tuple(int(n) for n in columns["length"]),
            successes=tuple(None if s is None else bool(s) for s in columns["success"]),
            demonstrator=dict(block["demonstrator"]),
            task=dict(block["task"]),
            env_versions=dict(block["env_versions"]),
            collections=tuple(block["collections"]),
            size_bytes=int(block["main_file_bytes"]),
            sha256=str(block["main_file_sha256"]),
            metadata=metadata,
        )
    except (KeyError, TypeError, ValueError) as err:
        raise corrupted(f"bad gato_eval metadata ({err})") from None
    return info


def verify_dataset(info: DatasetInfo) -> None:
    """Check the HDF5 file against its recorded SHA-256 and episode count (reads the file)."""
    main = info.path / "data" / MAIN_FILE
    problem = None
    if file_sha256(main) != info.sha256:
        problem = f"{MAIN_FILE} does not match its recorded SHA-256"
    else:
        try:
            if count_episodes(info.path / "data") != info.episodes:
                problem = "the HDF5 file holds a different number of episodes"
        except OSError as err:
            problem = f"{MAIN_FILE} cannot be read ({err})"
    if problem:
        raise GatoEvalError(
            f"data set {info.name} ({info.path}) is corrupted: {problem}; delete it or recollect "
            "with `gato-eval data collect ... --overwrite`"
        )


def load_episodes(
    task_id: str,
    limit: int | None = None,
    data_dir: Path | str | None = None,
    noise: float | None = None,
) -> list[Episode]:
    """The first `limit` (default all) episodes of the data set of `task_id`, as written.

    `task_id` may also be a data set name (`dmc-cartpole-swingup-noise0p3`); `noise` picks a
    variant (see `resolve_dataset`). A missing or corrupted data set is a `GatoEvalError`.
    """
    info = dataset_info(task_id, noise, data_dir)
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise GatoEvalError(f"limit must be a non-negative integer, got {limit!r}")
    count = info.episodes if limit is None else min(limit, info.episodes)
    try:
        return list(read_episodes(info.path / "data", info.task_id, range(count)))
    except (OSError, KeyError, ValueError, UnicodeDecodeError) as err:
        raise GatoEvalError(
            f"data set {info.name} ({info.path}) is corrupted: reading episodes failed "
            f"({type(err).__name__}: {err}); delete it or recollect with --overwrite"
        ) from None


def install_dataset(build: Path, name: str, data_dir: Path | str | None = None) -> Path:
    """Move a finished data set directory `build` to its final place, replacing an old one.

    Both moves are renames inside the data root. If the process dies between them, the old
    data set sits in the staging directory as `replaced`; `recover_interrupted_installs` (run
    by every lookup) puts it back, so a data set is never half-replaced.
    """
    final = dataset_path(name, data_dir)
    replaced = staging_path(name, data_dir) / "replaced"
    if replaced.exists():
        shutil.rmtree(replaced)
    if final.exists():
        os.replace(final, replaced)
    os.replace(build, final)
    fsync_directory(final.parent)
    if replaced.exists():
        shutil.rmtree(replaced)
    return final


def recover_interrupted_installs(data_dir: Path | str | None = None) -> None:
    """Finish what a killed collection left half done in the staging directory.

    - A data set whose replacement stopped between its two renames is put back.
    - A staging directory whose collection is already installed (the process died after the
      install, before removing it) is removed: the installed data set's collection records
      carry the id of the plan in that staging directory.
    """
    staging_root = datasets_root(data_dir) / STAGING
    if not staging_root.is_dir():
        return
    for staged in staging_root.iterdir():
        replaced = staged / "replaced"
        final = dataset_path(staged.name, data_dir)
        if replaced.is_dir() and not final.exists():
            os.replace(replaced, final)
        if _collection_already_installed(staged, final):
            shutil.rmtree(staged, ignore_errors=True)


def _collection_already_installed(staged: Path, final: Path) -> bool:
    plan_file = staged / COLLECTION_PLAN_FILE
    if not (plan_file.is_file() and final.is_dir()):
        return False
    try:
        collection_id = json.loads(plan_file.read_text()).get("collection_id")
        installed = read_dataset_info(final).collections
    except (OSError, ValueError, AttributeError, GatoEvalError):
        return False  # unreadable either way: leave it for the user to see
    return bool(collection_id) and any(
        isinstance(c, dict) and c.get("collection_id") == collection_id for c in installed
    )
