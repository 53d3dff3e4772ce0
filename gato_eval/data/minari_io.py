"""Episodes in Minari's on-disk format (HDF5 backend), lossless and compressed.

A Minari data set directory holds `data/metadata.json` (spaces, counts, free-form metadata) and
`data/main_data.hdf5` with one group per episode:

    episode_{id}/              attrs: id, seed, total_steps (+ ours: episode_index, success)
        observations/{key}     (T + 1, ...) per observation key; `text` as UTF-8 strings
        actions                (T, ...)
        rewards                (T,) float32
        terminations           (T,) bool
        truncations            (T,) bool
        infos/executed_actions (T, ...) only when noise made them differ from `actions`

This is the layout `minari.MinariDataset` reads (tests check it does). Metadata and spaces are
written by Minari's own `MinariStorage`; the episode arrays are written here, because Minari's
writer stores them uncompressed: an Atari frame stack is 50-90x smaller with gzip (measured on
Breakout: 28.7 MB raw, 0.33 MB gzip level 4 with byte shuffle), and gzip is lossless and part of
every HDF5 build. Images are never JPEG-encoded (`jpeg_encoding=False`).

metadata.json carries every field Minari 0.5.4's own writers maintain, so that `minari list
local`, `minari show`, `minari.list_local_datasets()` and `minari.load_dataset()` all work with
`MINARI_DATASETS_PATH` set to the data sets root: `MinariStorage.new` writes total_episodes,
total_steps, data_format, jpeg_encoding and the spaces; the collection writes dataset_id,
minari_version, algorithm_name, author, description, requirements and the counts; and, because
Minari's episode writer (which would refresh it) is bypassed, `update_metadata` refreshes
`dataset_size` (MB of the data directory, Minari's `get_size`), which `minari list` requires.
Minari's optional env_spec is not written: it would recover the bare environment, whose
observations are not gato-eval's (the suites' wrappers make them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.core.episode import Episode

MAIN_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
CHUNK_BYTES = 1 << 20  # ~1 MB chunks: large enough to compress well, small enough to slice


def create_storage(data_path: Path, observation_space, action_space, metadata: dict) -> None:
    """A new, empty Minari data set at `data_path` (a `.../data` directory that must not exist)."""
    from minari.dataset.minari_storage import MinariStorage

    data_path.mkdir(parents=True)
    storage = MinariStorage.new(
        data_path.absolute(),
        observation_space=observation_space,
        action_space=action_space,
        data_format="hdf5",
        jpeg_encoding=False,
    )
    _update_with_size(storage, metadata)


def update_metadata(data_path: Path, metadata: dict) -> None:
    """Merge `metadata` into the data set's metadata.json (Minari's own updater), then refresh
    Minari's `dataset_size` so that the file stays one Minari's CLI can list."""
    from minari.dataset.minari_storage import MinariStorage

    _update_with_size(MinariStorage.read(Path(data_path).absolute()), metadata)


def _update_with_size(storage, metadata: dict) -> None:
    # Minari's own episode writer updates dataset_size after every write, and `minari list`
    # reads it unconditionally (a KeyError without it). Measured after the merge, as Minari
    # does, so that the size covers the data written so far. (Minari's get_size needs an
    # absolute data path: it joins each globbed path onto the data path again.)
    storage.update_metadata(metadata)
    storage.update_metadata({"dataset_size": storage.get_size()})


def write_staged_episode(path: Path, episode: Episode) -> None:
    """One episode in its own small HDF5 file, atomically (a temporary name, then a rename).

    A collection writes each finished episode like this, so an interrupted one loses at most
    the episodes still running; `append_staged_episodes` later copies them into the data set.
    """
    import os

    import h5py

    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as handle:
        _write_episode(handle.create_group("episode"), 0, episode)
        handle.flush()
    with open(tmp, "rb") as raw:
        os.fsync(raw.fileno())
    os.replace(tmp, path)


def read_staged_episode_summary(path: Path) -> dict[str, Any]:
    """{index, seed, return, length, success} of a staged episode (raises OSError/KeyError)."""
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["episode"]
        rewards = group["rewards"][()]
        return {
            "index": int(group.attrs["episode_index"]),
            "seed": int(group.attrs["seed"]),
            "return": float(np.sum(rewards, dtype=np.float64)),
            "length": int(group.attrs["total_steps"]),
            "success": bool(group.attrs["success"]) if "success" in group.attrs else None,
        }


def append_staged_episodes(data_path: Path, staged: Iterable[Path]) -> tuple[int, int]:
    """Copy staged episode files (in order) after the stored episodes; returns (episodes, steps).

    HDF5 copies the compressed chunks as they are, so nothing is decoded or re-encoded.
    """
    import h5py

    written = steps = 0
    with h5py.File(data_path / MAIN_FILE, "a", track_order=True) as handle:
        for path in staged:
            episode_id = len(handle.keys())
            with h5py.File(path, "r") as source:
                source.copy(source["episode"], handle, name=f"episode_{episode_id}")
            group = handle[f"episode_{episode_id}"]
            group.attrs["id"] = episode_id
            written += 1
            steps += int(group.attrs["total_steps"])
    return written, steps


def _write_episode(group, episode_id: int, episode: Episode) -> None:
    import h5py

    group.attrs["id"] = episode_id
    group.attrs["seed"] = int(episode.seed)
    group.attrs["total_steps"] = episode.length
    group.attrs["episode_index"] = int(episode.extras.get("episode_index", episode_id))
    if episode.success is not None:
        group.attrs["success"] = bool(episode.success)
    observations = group.create_group("observations")
    for key in sorted(episode.observations):
        value = episode.observations[key]
        if key == "text":
            observations.create_dataset(
                key, data=list(value), dtype=h5py.string_dtype(encoding="utf-8")
            )
        else:
            _write_array(observations, key, np.asarray(value))
    _write_array(group, "actions", np.asarray(episode.actions))
    _write_array(group, "rewards", np.asarray(episode.rewards, dtype=np.float32))
    _write_array(group, "terminations", np.asarray(episode.terminations, dtype=bool))
    _write_array(group, "truncations", np.asarray(episode.truncations, dtype=bool))
    executed = episode.extras.get("executed_actions")
    if executed is not None:
        _write_array(group.create_group("infos"), "executed_actions", np.asarray(executed))


def _write_array(group, name: str, array: np.ndarray) -> None:
    if array.size == 0 or array.ndim == 0:
        group.create_dataset(name, data=array)
        return
    row_bytes = max(1, array.nbytes // max(1, len(array)))
    rows = int(np.clip(CHUNK_BYTES // row_bytes, 1, len(array)))
    group.create_dataset(
        name, data=array, chunks=(rows, *array.shape[1:]), maxshape=(None, *array.shape[1:]),
        **COMPRESSION,
    )  # fmt: skip


def count_episodes(data_path: Path) -> int:
    """How many episode groups the HDF5 file holds (raises OSError if it cannot be read)."""
    import h5py

    with h5py.File(data_path / MAIN_FILE, "r") as handle:
        return len(handle.keys())


def read_episodes(data_path: Path, task_id: str, indices: Iterable[int]) -> Iterator[Episode]:
    """The stored episodes `indices` (in that order) as `Episode`s, exactly as written."""
    import h5py

    with h5py.File(data_path / MAIN_FILE, "r") as handle:
        for index in indices:
            yield _read_episode(handle[f"episode_{index}"], task_id)


def _read_episode(group, task_id: str) -> Episode:
    observations: dict[str, Any] = {}
    for key, dataset in group["observations"].items():
        if key == "text":
            observations[key] = [value.decode("utf-8") for value in dataset[()]]
        else:
            observations[key] = dataset[()]
    extras: dict[str, Any] = {"episode_index": int(group.attrs["episode_index"])}
    if "infos" in group and "executed_actions" in group["infos"]:
        extras["executed_actions"] = group["infos"]["executed_actions"][()]
    success = bool(group.attrs["success"]) if "success" in group.attrs else None
    return Episode(
        task_id=task_id,
        observations=observations,
        actions=group["actions"][()],
        rewards=group["rewards"][()],
        terminations=group["terminations"][()],
        truncations=group["truncations"][()],
        seed=int(group.attrs["seed"]),
        success=success,
        extras=extras,
    )
