"""Timestep tokens: the paper's order, local positions, live == episode encoding, checks."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from gato_eval.core.episode import Episode
from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, concat_rows
from gato_eval.tokenizer.images import images_to_patches, patch_intervals
from gato_eval.tokenizer.layout import PAPER_LAYOUT, TokenLayout
from gato_eval.tokenizer.timestep import TimestepTokenizer
from gato_eval.tokenizer.values import encode_continuous


def observations(rng, rows, texts):
    """A batch for the all-keys space of conftest: image 32x48, 3 discrete, 2 continuous."""
    return {
        "text": list(texts),
        "image": rng.integers(0, 256, (rows, 32, 48, 3), dtype=np.uint8),
        "discrete": rng.integers(0, 1024, (rows, 3)),
        "continuous": rng.normal(0, 5, (rows, 2)).astype(np.float32),
    }


@pytest.fixture
def tokenizer(all_keys_space, small_layout, mission_tokenizer):
    return TimestepTokenizer(all_keys_space, spaces.Discrete(7), small_layout, mission_tokenizer)


def test_one_timestep_in_the_papers_order(tokenizer, mission_tokenizer):
    rng = np.random.default_rng(0)
    obs = observations(rng, 1, ["go to the red ball"])
    batch = tokenizer.encode_observations(obs)
    batch.check()
    text = mission_tokenizer.encode("go to the red ball")
    n = len(text)
    continuous = (encode_continuous(obs["continuous"][0], mu_law=True) + 128).tolist()
    discrete = (obs["discrete"][0] + 128).tolist()
    # text, 6 image patches, continuous before discrete (lexicographic keys), separator
    expected = [*text, *[0] * 6, *continuous, *discrete, 1152]
    assert batch.token_ids[0].tolist() == expected
    assert batch.is_image[0].tolist() == [False] * n + [True] * 6 + [False] * 6
    assert batch.local_positions[0].tolist() == list(range(len(expected)))
    assert not batch.loss_mask.any()
    assert batch.timestep_start[0].tolist() == [True] + [False] * (len(expected) - 1)
    np.testing.assert_array_equal(batch.patches, images_to_patches(obs["image"])[0])
    rows, cols = patch_intervals(32, 48, rounding=tokenizer.layout.patch_position_rounding)
    np.testing.assert_array_equal(batch.patch_row_interval, rows)
    np.testing.assert_array_equal(batch.patch_col_interval, cols)
    assert len(expected) == tokenizer.observation_token_count(n) + 1


def test_rows_with_different_texts_are_right_padded(tokenizer):
    rng = np.random.default_rng(1)
    texts = ["open the red door", "put the red ball next to the blue key", "open the red door"]
    batch = tokenizer.encode_observations(observations(rng, 3, texts))
    batch.check()
    lengths = [tokenizer.count_text_tokens(t) + 6 + 5 + 1 for t in texts]
    assert batch.lengths.tolist() == lengths and batch.shape == (3, max(lengths))
    assert lengths[0] < lengths[1]
    assert batch.token_ids[0, lengths[0] - 1] == 1152  # separator ends each row
    assert not batch.valid[0, lengths[0] :].any() and (batch.token_ids[0, lengths[0] :] == 0).all()
    assert len(batch.patches) == 18


def test_episode_equals_live_timesteps_followed_by_actions(tokenizer):
    """The prompt (an encoded demonstration) and the live context must be the same stream."""
    rng = np.random.default_rng(2)
    steps = 4
    texts = ["pick up a blue key"] * 2 + ["open the grey door"] * 3
    obs = observations(rng, steps + 1, texts)
    actions = np.array([3, 0, 6, 2])
    episode = tokenizer.encode_episode(obs, actions)
    episode.check()
    live = []
    for t in range(steps):
        row = {key: value[t : t + 1] for key, value in obs.items()}
        live.append(tokenizer.encode_observations(row))
        live.append(
            tokenizer.action_token_batch(tokenizer.encode_actions(actions[t : t + 1]), True)
        )
    expected = concat_rows(live)
    for name in ("token_ids", "local_positions", "is_image", "loss_mask", "valid"):
        np.testing.assert_array_equal(getattr(episode, name), getattr(expected, name), name)
    np.testing.assert_array_equal(episode.timestep_start, expected.timestep_start)
    np.testing.assert_array_equal(episode.patches, expected.patches)
    np.testing.assert_array_equal(episode.patch_row_interval, expected.patch_row_interval)
    # Actions: loss targets at the shared action position, right after each separator.
    action_positions = np.flatnonzero(episode.loss_mask[0])
    assert len(action_positions) == steps
    assert (episode.local_positions[0, action_positions] == ACTION_LOCAL_POSITION).all()
    assert (episode.token_ids[0, action_positions - 1] == 1152).all()
    assert (episode.token_ids[0, action_positions] - 128).tolist() == actions.tolist()
    starts = episode.timestep_starts()
    sizes = np.diff(np.append(starts, episode.shape[1]))
    assert sizes.tolist() == [
        tokenizer.tokens_per_timestep(tokenizer.count_text_tokens(t)) for t in texts[:steps]
    ]


def test_episode_from_an_episode_record(dmc_space, small_layout):
    box = spaces.Box(-1, 1, (1,), np.float32)
    tokenizer = TimestepTokenizer(dmc_space, box, small_layout)
    steps = 1000
    rng = np.random.default_rng(3)
    record = Episode(
        task_id="dmc-cartpole-swingup",
        observations={"continuous": rng.normal(size=(steps + 1, 5)).astype(np.float32)},
        actions=rng.uniform(-1, 1, (steps, 1)).astype(np.float32),
        rewards=np.zeros(steps, np.float32),
        terminations=np.zeros(steps, bool),
        truncations=np.zeros(steps, bool),
        seed=0,
    )
    batch = tokenizer.encode_episode(record.observations, record.actions)
    batch.check()
    assert batch.shape == (1, steps * 7) and tokenizer.tokens_per_timestep() == 7
    ids = batch.token_ids[0].reshape(steps, 7)  # 5 continuous, separator, 1 action
    np.testing.assert_array_equal(ids[:, 5], small_layout.separator_id)
    decoded = tokenizer.decode_actions(ids[:, 6:])
    assert np.abs(decoded - record.actions).max() <= 1 / 1024 + 1e-7
    local = batch.local_positions[0].reshape(steps, 7)
    assert (local == [0, 1, 2, 3, 4, 5, ACTION_LOCAL_POSITION]).all()


def test_episode_lengths_must_agree(tokenizer):
    rng = np.random.default_rng(4)
    obs = observations(rng, 3, ["go to the red ball"] * 3)
    tokenizer.encode_episode(obs, np.array([1, 2, 3]))  # T observations: fine
    tokenizer.encode_episode(obs, np.array([1, 2]))  # T + 1: the last is dropped
    with pytest.raises(GatoEvalError, match="needs 1 or 2 observations"):
        tokenizer.encode_episode(obs, np.array([1]))


def test_paper_layout_ids(all_keys_space):
    tokenizer = TimestepTokenizer(
        spaces.Dict({"discrete": all_keys_space["discrete"]}), spaces.Discrete(18), PAPER_LAYOUT
    )
    batch = tokenizer.encode_observations({"discrete": np.array([[0, 1, 1023]])})
    assert batch.token_ids[0].tolist() == [32000, 32001, 33023, 33024]
    assert tokenizer.action_token_range(0) == (32000, 32018)


# -- validation: every message names the observation key --------------------------------


def test_structure_mismatches(tokenizer):
    rng = np.random.default_rng(5)
    good = observations(rng, 2, ["go to the red ball"] * 2)
    missing = {k: v for k, v in good.items() if k != "image"}
    with pytest.raises(GatoEvalError, match=r"missing \['image'\]"):
        tokenizer.encode_observations(missing)
    with pytest.raises(GatoEvalError, match=r"undeclared \['extra'\]"):
        tokenizer.encode_observations({**good, "extra": np.zeros((2, 1))})
    with pytest.raises(
        GatoEvalError,
        match=r"'image': expected uint8 array of shape \(B, 32, 48, 3\)"
        r", got uint8 \(2, 48, 32, 3\)",
    ):
        tokenizer.encode_observations({**good, "image": np.zeros((2, 48, 32, 3), np.uint8)})
    with pytest.raises(GatoEvalError, match=r"'image'.*got float32"):
        tokenizer.encode_observations({**good, "image": good["image"].astype(np.float32)})
    with pytest.raises(GatoEvalError, match=r"'discrete': expected integer"):
        tokenizer.encode_observations({**good, "discrete": good["discrete"].astype(np.float64)})
    with pytest.raises(
        GatoEvalError, match=r"'continuous': expected float array of shape \(B, 2\)"
    ):
        tokenizer.encode_observations({**good, "continuous": np.zeros((2, 3), np.float32)})
    with pytest.raises(GatoEvalError, match="different numbers of rows"):
        tokenizer.encode_observations({**good, "text": ["go to the red ball"]})
    with pytest.raises(GatoEvalError, match=r"'text' row 1 must be a str"):
        tokenizer.encode_observations({**good, "text": ["a", 3]})
    with pytest.raises(GatoEvalError, match=r"'text' must be batched"):
        tokenizer.encode_observations({**good, "text": "go to the red ball"})


@settings(max_examples=50, deadline=None)
@given(
    st.one_of(st.integers(max_value=-1), st.integers(min_value=1024)).filter(
        lambda v: -(2**62) < v < 2**62
    ),
    st.integers(0, 1),
    st.integers(0, 2),
)
def test_discrete_values_outside_range_name_the_key(value, row, column):
    space = spaces.Dict({"discrete": spaces.Box(0, 1023, (3,), np.int64)})
    tokenizer = TimestepTokenizer(space, spaces.Discrete(2), TokenLayout.for_text_vocab(128))
    values = np.zeros((2, 3), dtype=np.int64)
    values[row, column] = value
    with pytest.raises(
        GatoEvalError,
        match=rf"observation 'discrete' has value {value} outside \[0, 1024\) at row {row}, "
        rf"element \({column},\)",
    ):
        tokenizer.encode_observations({"discrete": values})


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([np.nan, np.inf, -np.inf]), st.integers(0, 2), st.integers(0, 4))
def test_nan_and_inf_name_the_key(bad, row, column):
    space = spaces.Dict({"continuous": spaces.Box(-np.inf, np.inf, (5,), np.float32)})
    tokenizer = TimestepTokenizer(space, spaces.Discrete(2), TokenLayout.for_text_vocab(128))
    values = np.zeros((3, 5), dtype=np.float32)
    values[row, column] = bad
    with pytest.raises(
        GatoEvalError,
        match=rf"observation 'continuous' contains {bad} at row {row}, element \({column},\)",
    ):
        tokenizer.encode_observations({"continuous": values})
    with pytest.raises(GatoEvalError, match="observation 'continuous' contains"):
        tokenizer.encode_episode({"continuous": values}, np.zeros(3, np.int64))


def test_declared_spaces_are_checked(all_keys_space, small_layout, mission_tokenizer):
    box = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    with pytest.raises(
        GatoEvalError, match=r"'continous' is not one of .*did you mean: continuous"
    ):
        TimestepTokenizer(spaces.Dict({"continous": box}), spaces.Discrete(2), small_layout)
    with pytest.raises(GatoEvalError, match=r"must be a gymnasium\.spaces\.Dict"):
        TimestepTokenizer(box, spaces.Discrete(2), small_layout)
    with pytest.raises(GatoEvalError, match="text tokenizer is needed"):
        TimestepTokenizer(all_keys_space, spaces.Discrete(2), small_layout)
    with pytest.raises(GatoEvalError, match="reserves 32000 text ids"):
        TimestepTokenizer(all_keys_space, spaces.Discrete(2), PAPER_LAYOUT, mission_tokenizer)
    wide = spaces.Box(0, 2000, (2,), np.int64)
    with pytest.raises(GatoEvalError, match=r"'discrete' declares values outside \[0, 1024\)"):
        TimestepTokenizer(spaces.Dict({"discrete": wide}), spaces.Discrete(2), small_layout)
    odd = spaces.Box(0, 255, (84, 84, 3), np.uint8)
    with pytest.raises(GatoEvalError, match=r"'image': image shape \(84, 84, 3\)"):
        TimestepTokenizer(spaces.Dict({"image": odd}), spaces.Discrete(2), small_layout)
    huge = spaces.Box(0, 255, (512, 256, 3), np.uint8)  # 512 patches: no room for the separator
    with pytest.raises(GatoEvalError, match="exceeds the 512 local positions"):
        TimestepTokenizer(spaces.Dict({"image": huge}), spaces.Discrete(2), small_layout)


def test_text_too_long_for_local_positions(small_layout, mission_tokenizer):
    space = spaces.Dict({"text": spaces.Text(10000)})
    tokenizer = TimestepTokenizer(space, spaces.Discrete(2), small_layout, mission_tokenizer)
    tokenizer.encode_observations({"text": ["red " * 100]})
    with pytest.raises(GatoEvalError, match="exceeds the 512 local positions"):
        tokenizer.encode_observations({"text": ["red " * 600]})
