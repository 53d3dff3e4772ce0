"""Demonstration data sets: a lossless storage round trip, Minari interop, names, corrupted and
missing data, the windowed expert rule (collection itself: tests/collection/)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from demonstration_checks import assert_same_episode

from gato_eval.collection.demonstrations import collect_demonstrations
from gato_eval.collection.references import expert_window, windowed_expert_score
from gato_eval.core.episode import Episode
from gato_eval.core.errors import GatoEvalError
from gato_eval.data import datasets as store
from gato_eval.data.minari_io import (
    append_staged_episodes,
    create_storage,
    read_episodes,
    write_staged_episode,
)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A private GATO_EVAL_HOME: data sets and reference tables go there."""
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# -- the expert rule --------------------------------------------------------------------------


def test_expert_window_follows_the_paper():
    assert [expert_window(n) for n in (1, 9, 10, 19, 20, 25, 999, 10_000, 20_000)] == [
        1, 1, 1, 1, 2, 2, 99, 1000, 1000,
    ]  # fmt: skip
    with pytest.raises(GatoEvalError):
        expert_window(0)


def test_windowed_expert_score_on_hand_computed_numbers():
    # N = 5 -> W = 1: the best single episode.
    assert windowed_expert_score([3.0, 9.0, 1.0, 4.0, 2.0]) == 9.0
    # N = 20 -> W = 2: windows (0,0) ... the best pair is (10, 8) -> 9.0, not the lone 12.
    returns = [0.0] * 20
    returns[5], returns[6] = 10.0, 8.0
    returns[15] = 12.0
    assert windowed_expert_score(returns) == 9.0
    # N = 30 -> W = 3: best run of three is 6, 7, 8 -> 7.
    assert windowed_expert_score([1.0] * 10 + [6.0, 7.0, 8.0] + [2.0] * 17) == 7.0


# -- storage ----------------------------------------------------------------------------------


def synthetic_episode(index: int, steps: int = 7) -> Episode:
    rng = np.random.default_rng(index)
    return Episode(
        task_id="babyai-go-to-local",
        observations={
            "text": [f"go to the {'red' if index % 2 else 'blue'} ball, then pick it up"] * steps
            + ["é — unicode survives"],
            "discrete": rng.integers(0, 1024, (steps + 1, 148), dtype=np.int64),
            "image": rng.integers(0, 256, (steps + 1, 32, 16, 3), dtype=np.uint8),
            "continuous": rng.normal(size=(steps + 1, 5)).astype(np.float32),
        },
        actions=rng.integers(0, 7, steps, dtype=np.int64),
        rewards=rng.normal(size=steps).astype(np.float32),
        terminations=np.eye(1, steps, steps - 1, dtype=bool)[0],
        truncations=np.zeros(steps, dtype=bool),
        seed=1000 + index,
        success=bool(index % 2),
        extras={"episode_index": index, "executed_actions": rng.integers(0, 7, steps)},
    )


def test_storage_round_trip_is_bit_exact(tmp_path):
    from gymnasium import spaces

    written = [synthetic_episode(i, steps=3 + i) for i in range(3)]
    staged = []
    for episode in written:
        staged.append(tmp_path / f"e{episode.seed}.hdf5")
        write_staged_episode(staged[-1], episode)
    observation_space = spaces.Dict(
        {
            "text": spaces.Text(512, charset="abcdefghijklmnopqrstuvwxyz ,é—"),
            "discrete": spaces.Box(0, 1023, (148,), np.int64),
            "image": spaces.Box(0, 255, (32, 16, 3), np.uint8),
            "continuous": spaces.Box(-np.inf, np.inf, (5,), np.float32),
        }
    )
    create_storage(tmp_path / "data", observation_space, spaces.Discrete(7), {})
    assert append_staged_episodes(tmp_path / "data", staged) == (3, 3 + 4 + 5)
    loaded = list(read_episodes(tmp_path / "data", "babyai-go-to-local", range(3)))
    for a, b in zip(written, loaded, strict=True):
        assert_same_episode(a, b)


def test_minari_reads_our_data_sets(home):
    import minari

    info = collect_demonstrations("babyai-go-to-local", 2)
    ours = store.load_episodes("babyai-go-to-local")
    dataset = minari.MinariDataset(info.path / "data")
    assert dataset.total_episodes == 2 and dataset.spec.dataset_id == "babyai-go-to-local-v0"
    for theirs, mine in zip(dataset.iterate_episodes(), ours, strict=True):
        np.testing.assert_array_equal(theirs.actions, mine.actions)
        np.testing.assert_array_equal(
            theirs.observations["discrete"], mine.observations["discrete"]
        )
        assert list(theirs.observations["text"]) == mine.observations["text"]
        np.testing.assert_array_equal(theirs.rewards, mine.rewards)


def test_names_round_trip():
    assert store.dataset_name("atari-pong") == "atari-pong"
    assert store.dataset_name("dmc-cartpole-swingup", 0.3) == "dmc-cartpole-swingup-noise0p3"
    assert store.split_dataset_name("dmc-cartpole-swingup-noise0p3") == (
        "dmc-cartpole-swingup",
        0.3,
    )
    assert store.split_dataset_name("atari-pong-noise1") == ("atari-pong", 1.0)
    assert store.dataset_name("atari-pong", 1e-5) == "atari-pong-noise0p00001"
    assert store.split_dataset_name("atari-pong-noise0p00001") == ("atari-pong", 1e-5)


# -- missing and corrupted --------------------------------------------------------------------


def test_missing_data_set_is_a_one_line_error_that_says_how_to_make_it(cli):
    with pytest.raises(GatoEvalError, match="data collect --task atari-pong"):
        store.load_episodes("atari-pong")
    result = cli("data", "info", "atari-pong")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "no data set 'atari-pong'" in result.stderr


@pytest.fixture
def small_dataset():
    return collect_demonstrations("babyai-go-to-local", 3)


def test_truncated_hdf5_is_reported_corrupted(small_dataset, cli):
    main = small_dataset.path / "data" / "main_data.hdf5"
    main.write_bytes(main.read_bytes()[:-100])
    with pytest.raises(GatoEvalError, match=r"corrupted: main_data\.hdf5 has"):
        store.load_episodes("babyai-go-to-local")
    result = cli("data", "ls")
    assert result.exit_code == 0 and "corrupted" in result.stdout


def test_garbled_metadata_is_reported_corrupted(small_dataset):
    (small_dataset.path / "data" / "metadata.json").write_text("{not json")
    with pytest.raises(GatoEvalError, match=r"metadata\.json is unreadable"):
        store.dataset_info("babyai-go-to-local")
    assert store.list_datasets() == []


def test_flipped_bytes_fail_verification(small_dataset, cli):
    main = small_dataset.path / "data" / "main_data.hdf5"
    data = bytearray(main.read_bytes())
    data[len(data) // 2] ^= 0xFF
    main.write_bytes(bytes(data))
    result = cli("data", "info", "babyai-go-to-local", "--verify")
    assert result.exit_code == 1 and "does not match its recorded SHA-256" in result.stderr


def test_a_directory_without_the_completion_stamp_is_not_a_data_set(small_dataset):
    meta_path = small_dataset.path / "data" / "metadata.json"
    metadata = json.loads(meta_path.read_text())
    metadata["gato_eval"]["complete"] = False
    meta_path.write_text(json.dumps(metadata))
    with pytest.raises(GatoEvalError, match="never finished"):
        store.load_episodes("babyai-go-to-local")


# -- CLI and references -----------------------------------------------------------------------


def test_cli_collect_ls_info_reference(cli, home):
    result = cli("data", "collect", "--task", "babyai-go-to-red-ball", "--episodes", "3")
    assert result.exit_code == 0, result.stderr
    path = result.stdout.strip().splitlines()[-1]
    assert path.endswith("babyai-go-to-red-ball-v0")
    listing = json.loads(cli("data", "ls", "--json").stdout)
    assert [d["name"] for d in listing["datasets"]] == ["babyai-go-to-red-ball"]
    info = json.loads(cli("data", "info", "babyai-go-to-red-ball", "--json").stdout)
    assert info["episodes"] == 3 and info["success_rate"] == 1.0
    assert info["demonstrator"]["name"] == "babyai-bot"
    result = cli("data", "reference", "babyai-go-to-red-ball", "--random-episodes", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(home / "reference_scores.csv")

    from gato_eval.scores.sources import get_reference

    reference = get_reference("babyai-go-to-red-ball")
    assert reference.normalizable
    assert reference.expert == pytest.approx(max(info["expert_score"], 0), rel=1e-6)
    assert "max windowed mean" in reference.note and "uniform random" in reference.note
