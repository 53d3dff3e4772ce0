"""Minari's own tools on gato-eval data sets: `minari list local`, `minari show`, and the API's
listing and loading, on a freshly collected data set and on the bundled prompt data sets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gato_eval.core.paths import BUNDLED_DIR
from gato_eval.data import datasets as store

BUNDLED_PROMPTS = BUNDLED_DIR / "prompts"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A private GATO_EVAL_HOME whose data sets root is Minari's root too."""
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def minari_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed `minari` console script, run on the data sets under `root`."""
    script = shutil.which("minari", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-c", "from minari.cli import app; app()"]
    env = {**os.environ, "MINARI_DATASETS_PATH": str(root), "COLUMNS": "200"}
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def minari_api(monkeypatch, root: Path):
    """The `minari` module, reading data sets under `root` (it reads the variable per call)."""
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return minari


def test_minari_lists_shows_and_loads_a_freshly_collected_data_set(cli, monkeypatch):
    result = cli("data", "collect", "--task", "babyai-go-to-red-ball", "--episodes", "2")
    assert result.exit_code == 0, result.stderr
    root = store.datasets_root()
    ours = store.load_episodes("babyai-go-to-red-ball")
    steps = sum(len(e.actions) for e in ours)

    listing = minari_cli(root, "list", "local")
    assert listing.returncode == 0, listing.stderr[-2000:]
    row = next(line for line in listing.stdout.splitlines() if "babyai-go-to-red-ball-v0" in line)
    cells = [cell.strip() for cell in row.split("│")]  # "", name, episodes, steps, size, author
    assert cells[2:6] == [str(len(ours)), str(steps), "0.0 MB", "gato-eval"]
    shown = minari_cli(root, "show", "babyai-go-to-red-ball-v0")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Discrete(7)" in shown.stdout and "0.5.4 (supported)" in shown.stdout

    minari = minari_api(monkeypatch, root)
    listed = minari.list_local_datasets(compatible_minari_version=True)
    assert list(listed) == ["babyai-go-to-red-ball-v0"]
    metadata = listed["babyai-go-to-red-ball-v0"]
    assert (metadata["total_episodes"], metadata["total_steps"]) == (2, steps)
    dataset = minari.load_dataset("babyai-go-to-red-ball-v0")
    # Minari's size rule (MB of the data directory, one decimal), as its own writers record it.
    assert metadata["dataset_size"] == dataset.storage.get_size()
    theirs = list(dataset.iterate_episodes())
    assert len(theirs) == len(ours) == dataset.total_episodes
    for episode, mine in zip(theirs, ours, strict=True):
        np.testing.assert_array_equal(episode.actions, mine.actions)
        np.testing.assert_array_equal(episode.rewards, mine.rewards)
        assert list(episode.observations["text"]) == mine.observations["text"]

    # An append keeps Minari's counts and size current.
    result = cli(
        "data", "collect", "--task", "babyai-go-to-red-ball", "--episodes", "1", "--append"
    )
    assert result.exit_code == 0, result.stderr
    metadata = minari.list_local_datasets()["babyai-go-to-red-ball-v0"]
    assert metadata["total_episodes"] == 3
    assert (
        metadata["dataset_size"]
        == minari.load_dataset("babyai-go-to-red-ball-v0").storage.get_size()
    )


def test_minari_lists_the_bundled_prompt_data_sets_and_their_episodes_are_unchanged(monkeypatch):
    infos = store.list_datasets(BUNDLED_PROMPTS)
    assert len(infos) == 8
    for info in infos:
        store.verify_dataset(info)  # main_data.hdf5 still has its recorded SHA-256
    listing = minari_cli(BUNDLED_PROMPTS, "list", "local")
    assert listing.returncode == 0, listing.stderr[-2000:]
    for info in infos:
        assert f"{info.name}-v0" in listing.stdout
    minari = minari_api(monkeypatch, BUNDLED_PROMPTS)
    assert sorted(minari.list_local_datasets()) == sorted(f"{i.name}-v0" for i in infos)
    dataset = minari.load_dataset("babyai-go-to-red-ball-v0")
    ours = store.load_episodes("babyai-go-to-red-ball", data_dir=BUNDLED_PROMPTS)
    for episode, mine in zip(dataset.iterate_episodes(), ours, strict=True):
        np.testing.assert_array_equal(episode.actions, mine.actions)


def test_a_data_set_written_without_minaris_size_still_loads_in_gato_eval(cli):
    # Data sets collected before dataset_size was written: gato-eval reads them as before.
    result = cli("data", "collect", "--task", "babyai-go-to-red-ball", "--episodes", "1")
    assert result.exit_code == 0, result.stderr
    info = store.dataset_info("babyai-go-to-red-ball")
    path = info.path / "data" / "metadata.json"
    metadata = json.loads(path.read_text())
    del metadata["dataset_size"]
    path.write_text(json.dumps(metadata))
    assert len(store.load_episodes("babyai-go-to-red-ball")) == 1


def test_a_relative_home_still_gets_minaris_size(cli, tmp_path, monkeypatch):
    # Minari's get_size joins each globbed path onto the data path again: it needs it absolute.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATO_EVAL_HOME", "relative-home")
    result = cli("data", "collect", "--task", "babyai-go-to-red-ball", "--episodes", "1")
    assert result.exit_code == 0, result.stderr
    data = tmp_path / "relative-home" / "datasets" / "babyai-go-to-red-ball-v0" / "data"
    assert json.loads((data / "metadata.json").read_text())["dataset_size"] == 0.0
