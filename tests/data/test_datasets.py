"""Demonstration data sets: lossless round trips on every family, Minari interop, corrupted and
missing data, overwrite/append rules, resumed collections, the windowed expert rule."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

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
from gato_eval.experts import make_expert
from gato_eval.rollout import plan_episodes, run_episodes
from gato_eval.suites.registry import get_task

FAMILY_TASKS = ["babyai-go-to-local", "dmc-cartpole-balance", "metaworld-reach", "atari-breakout"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A private GATO_EVAL_HOME: data sets and reference tables go there."""
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def assert_same_episode(a: Episode, b: Episode) -> None:
    """Bit-exact equality of everything an episode holds (dtypes included)."""
    assert a.task_id == b.task_id and a.seed == b.seed and a.success == b.success
    assert sorted(a.observations) == sorted(b.observations)
    for key, value in a.observations.items():
        if key == "text":
            assert list(value) == list(b.observations[key])
        else:
            assert value.dtype == b.observations[key].dtype
            np.testing.assert_array_equal(value, b.observations[key])
    for name in ("actions", "rewards", "terminations", "truncations"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right)
    assert sorted(a.extras) == sorted(b.extras)
    for key in a.extras:
        np.testing.assert_array_equal(a.extras[key], b.extras[key])


def replay(task_id: str, indices, noise: float = 0.0, seed: int = 0) -> list[Episode]:
    """The episodes a collection with `seed` writes, played again outside the data layer."""
    task = get_task(task_id)
    with contextlib.redirect_stdout(io.StringIO()):
        results = run_episodes(
            task, make_expert(task, noise), plan_episodes(seed, task_id, indices, "collection"), 2,
            record_trajectories=True,
        )  # fmt: skip
    episodes = []
    for result in results:
        result.trajectory.extras["episode_index"] = result.episode
        episodes.append(result.trajectory)
    return episodes


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


@pytest.mark.parametrize("task_id", FAMILY_TASKS)
def test_collected_episodes_load_back_exactly_on_every_family(task_id):
    info = collect_demonstrations(task_id, 2, num_envs=2)
    assert info.episodes == 2 and info.indices == (0, 1)
    loaded = store.load_episodes(task_id)
    for written, back in zip(replay(task_id, [0, 1]), loaded, strict=True):
        assert_same_episode(written, back)
    assert info.returns == tuple(float(e.episode_return) for e in loaded)
    assert info.seeds == tuple(e.seed for e in loaded)
    assert store.load_episodes(task_id, limit=1)[0].seed == loaded[0].seed


def test_noise_data_set_keeps_clean_labels_and_executed_actions():
    info = collect_demonstrations("dmc-cartpole-balance", 2, noise=0.5)
    assert info.name == "dmc-cartpole-balance-noise0p5" and info.noise == 0.5
    assert info.demonstrator["noise_kind"] == "gaussian-clipped"
    loaded = store.load_episodes("dmc-cartpole-balance")  # its only data set
    for written, back in zip(replay("dmc-cartpole-balance", [0, 1], 0.5), loaded, strict=True):
        assert_same_episode(written, back)
        assert not np.array_equal(back.actions, back.extras["executed_actions"])


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


# -- existing data: overwrite / append --------------------------------------------------------


def test_collecting_into_an_existing_data_set_needs_a_flag(small_dataset, cli):
    result = cli("data", "collect", "--task", "babyai-go-to-local", "--episodes", "2")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "--overwrite" in result.stderr and "--append" in result.stderr
    both = cli("data", "collect", "--task", "babyai-go-to-local", "--overwrite", "--append")
    assert both.exit_code == 1 and "exclude each other" in both.stderr
    assert store.dataset_info("babyai-go-to-local").episodes == 3  # untouched


def test_append_continues_the_episode_indices_and_keeps_the_old_episodes(small_dataset):
    before = store.load_episodes("babyai-go-to-local")
    info = collect_demonstrations("babyai-go-to-local", 2, append=True)
    assert info.episodes == 5 and info.indices == (0, 1, 2, 3, 4)
    assert len(set(info.seeds)) == 5 and len(info.collections) == 2
    after = store.load_episodes("babyai-go-to-local")
    for old, kept in zip(before, after[:3], strict=True):
        assert_same_episode(old, kept)
    for written, back in zip(replay("babyai-go-to-local", [3, 4]), after[3:], strict=True):
        assert_same_episode(written, back)


def test_append_refuses_another_demonstrator_version(small_dataset, monkeypatch):
    from gato_eval.experts.babyai import BabyAIBotExpert

    original = BabyAIBotExpert.__init__

    def newer(self, task, noise=0.0):
        original(self, task, noise)
        self.version += "-patched"

    monkeypatch.setattr(BabyAIBotExpert, "__init__", newer)
    with pytest.raises(GatoEvalError, match="its demonstrator differ"):
        collect_demonstrations("babyai-go-to-local", 1, append=True)


def test_overwrite_replaces_the_data_set(small_dataset):
    info = collect_demonstrations("babyai-go-to-local", 2, seed=5, overwrite=True)
    assert info.episodes == 2 and info.collections[0]["seed"] == 5
    assert (
        store.load_episodes("babyai-go-to-local")[0].seed
        == plan_episodes(5, "babyai-go-to-local", [0], "collection")[0].seed
    )


def test_collection_seeds_are_never_the_evaluation_seeds(small_dataset):
    # `data collect` and `run suite` both default to seed 0: the data set must not hold the
    # initial states evaluated, so the two draw from different streams (its own namespace).
    from gato_eval.rollout import episode_seed

    task = "babyai-go-to-local"
    info = collect_demonstrations(task, 2, append=True)  # 3 + 2 episodes, run seed 0
    collected = [episode_seed(0, task, i, "collection") for i in range(5)]
    assert list(info.seeds) == collected
    evaluated = {episode_seed(0, task, i) for i in range(10_000)}
    assert evaluated.isdisjoint(info.seeds)
    derivations = [c["seed_derivation"] for c in info.collections]
    assert derivations == ["gato-eval/collect/{run_seed}/{task_id}/{index}"] * 2
    # The evaluation derivation itself is unchanged: recorded runs resume and reproduce.
    assert episode_seed(7, "babyai-go-to-local", 3) == 1_993_029_666


# -- interrupted collections ------------------------------------------------------------------


class StopAfter:
    """A progress listener that interrupts the collection after `n` finished episodes."""

    def __init__(self, n: int):
        self.n, self.seen, self.played = n, 0, 0

    def started(self, name, total, done):
        self.total, self.done = total, done

    def steps(self, count):
        pass

    def episode(self, result):
        self.seen += 1
        self.played += 1
        if self.seen >= self.n:
            raise KeyboardInterrupt

    def building(self):
        pass


def test_an_interrupted_collection_resumes_and_equals_an_uninterrupted_one(home, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        collect_demonstrations("babyai-go-to-local", 5, num_envs=1, progress=StopAfter(2))
    assert store.list_datasets() == []  # nothing half-written looks like a data set
    assert not store.dataset_path("babyai-go-to-local").exists()
    problems = dict(store.find_problems())
    assert "unfinished collection (2 episodes staged" in problems["babyai-go-to-local"]

    resumed = StopAfter(10**9)
    info = collect_demonstrations("babyai-go-to-local", 5, num_envs=1, progress=resumed)
    assert resumed.done == 2 and resumed.played == 3  # only the missing episodes were played
    assert store.find_problems() == []
    reference = collect_demonstrations("babyai-go-to-local", 5, data_dir=tmp_path / "other")
    assert info.seeds == reference.seeds and info.returns == reference.returns
    for a, b in zip(
        store.load_episodes("babyai-go-to-local"),
        store.load_episodes("babyai-go-to-local", data_dir=tmp_path / "other"),
        strict=True,
    ):
        assert_same_episode(a, b)


def test_an_unfinished_collection_with_other_settings_needs_restart():
    with pytest.raises(KeyboardInterrupt):
        collect_demonstrations("babyai-go-to-local", 4, progress=StopAfter(1))
    with pytest.raises(GatoEvalError, match="--restart"):
        collect_demonstrations("babyai-go-to-local", 4, seed=9)
    info = collect_demonstrations("babyai-go-to-local", 2, seed=9, restart=True)
    assert info.episodes == 2 and info.collections[0]["seed"] == 9


def test_an_install_interrupted_between_its_renames_is_recovered(small_dataset):
    final = small_dataset.path
    replaced = store.staging_path("babyai-go-to-local") / "replaced"
    replaced.parent.mkdir(parents=True)
    final.rename(replaced)  # the process died after moving the old data set aside
    info = store.dataset_info("babyai-go-to-local")
    assert info.episodes == 3 and final.is_dir() and not replaced.exists()


def test_a_kill_after_the_install_leaves_no_unfinished_collection_behind(monkeypatch):
    # The process dies between installing the data set and removing its staging directory.
    import gato_eval.collection.demonstrations as collect_module

    def die(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(collect_module.shutil, "rmtree", die)
        with pytest.raises(KeyboardInterrupt):
            collect_demonstrations("babyai-go-to-local", 2)
    staging = store.staging_path("babyai-go-to-local")
    assert (staging / store.COLLECTION_PLAN_FILE).is_file()
    assert store.dataset_info("babyai-go-to-local").episodes == 2  # installed, staging stale
    assert not staging.exists()
    assert not any(name == "babyai-go-to-local" for name, _ in store.find_problems())


def test_an_overwrite_in_progress_is_not_mistaken_for_an_installed_one(small_dataset):
    # Same task, seed and settings as the installed data set, but a new collection: its staged
    # episodes must survive the recovery that every lookup runs.
    with pytest.raises(KeyboardInterrupt):
        collect_demonstrations("babyai-go-to-local", 3, overwrite=True, progress=StopAfter(1))
    staging = store.staging_path("babyai-go-to-local")
    store.dataset_info("babyai-go-to-local")
    assert len(list((staging / "episodes").glob("episode-*.hdf5"))) >= 1


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

    from gato_eval.scores.references import get_reference

    reference = get_reference("babyai-go-to-red-ball")
    assert reference.normalizable
    assert reference.expert == pytest.approx(max(info["expert_score"], 0), rel=1e-6)
    assert "max windowed mean" in reference.note and "uniform random" in reference.note
