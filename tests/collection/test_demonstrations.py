"""Collecting demonstrations: lossless on every family, noise, overwrite/append rules, the
collection seed stream, interrupted and resumed collections."""

from __future__ import annotations

import numpy as np
import pytest
from demonstration_checks import assert_same_episode, replay

from gato_eval.collection.demonstrations import collect_demonstrations
from gato_eval.core.errors import GatoEvalError
from gato_eval.data import datasets as store
from gato_eval.rollout import plan_episodes

FAMILY_TASKS = ["babyai-go-to-local", "dmc-cartpole-balance", "metaworld-reach", "atari-breakout"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A private GATO_EVAL_HOME: data sets go there."""
    monkeypatch.setenv("GATO_EVAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def small_dataset():
    return collect_demonstrations("babyai-go-to-local", 3)


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
