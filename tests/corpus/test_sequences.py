"""Sequence packing on real episodes: timestep boundaries, the 25% prompt rule, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.corpus.captions import CaptionSet
from gato_eval.corpus.procedural_text import generate_procedural_paragraphs
from gato_eval.corpus.sequences import (
    CaptionSource,
    EpisodeSource,
    SequenceSampler,
    TextSource,
    assemble_rows,
)
from gato_eval.corpus.token_stream import TokenStream
from gato_eval.rollout import run_episodes
from gato_eval.suites.registry import get_task, make_env
from gato_eval.tokenizer.documents import encode_image_caption, encode_text
from gato_eval.tokenizer.layout import TokenLayout
from gato_eval.tokenizer.text import train_text_tokenizer
from gato_eval.tokenizer.timestep import TimestepTokenizer

LAYOUT = TokenLayout.for_text_vocab(128)
CONTEXT = 400


class ObservationPolicy:
    """A deterministic function of the observation (so a model could learn it), any task."""

    def start(self, task, envs):
        self.space = envs[0].action_space
        self.rng = np.random.default_rng(0)

    def reset(self, env_index, seed):
        pass

    def act(self, observations, env_indices):
        if "continuous" in observations:
            x = observations["continuous"]
            return np.clip(x[:, :1] - x[:, 1:2], -1, 1).astype(np.float32)
        if "discrete" in observations:
            return (observations["discrete"][:, -1] % 3).astype(np.int64)
        return self.rng.integers(self.space.n, size=len(env_indices)).astype(np.int64)

    def close(self):
        pass


def collect(task_id: str, episodes: int, steps: int):
    spec = dataclasses.replace(get_task(task_id), max_episode_steps=steps)
    plan = [(i, 1000 + i) for i in range(episodes)]
    results = run_episodes(spec, ObservationPolicy(), plan, num_envs=1, record_trajectories=True)
    assert all(r.status == "ok" for r in results)
    return [r.trajectory for r in results]


@pytest.fixture(scope="module")
def text_tokenizer(tmp_path_factory):
    texts = generate_procedural_paragraphs(0, 20_000) + CaptionSet(seed=0).captions(500)
    texts += ["go to the red ball", "go to the blue key"]
    return train_text_tokenizer(
        texts, LAYOUT.text_vocab_size, tmp_path_factory.mktemp("sp") / "t.model"
    )


def encode_task(task_id, episodes, text):
    env = make_env(task_id)
    tokenizer = TimestepTokenizer.for_env(env, LAYOUT, text)
    env.close()
    return [
        TokenStream.from_token_batch(tokenizer.encode_episode(e.observations, e.actions))
        for e in episodes
    ], tokenizer


@pytest.fixture(scope="module")
def cartpole(text_tokenizer):
    episodes = collect("dmc-cartpole-balance", episodes=4, steps=120)
    return encode_task("dmc-cartpole-balance", episodes, text_tokenizer)


@pytest.fixture(scope="module")
def babyai(text_tokenizer):
    episodes = collect("babyai-go-to-red-ball", episodes=4, steps=12)
    return encode_task("babyai-go-to-red-ball", episodes, text_tokenizer)


@pytest.fixture(scope="module")
def pong(text_tokenizer):
    episodes = collect("atari-pong", episodes=3, steps=6)
    return encode_task("atari-pong", episodes, text_tokenizer)


def test_token_stream_keeps_the_tokenizers_exact_patches(pong):
    streams, _ = pong
    stream = streams[0]
    assert stream.patches.dtype == np.uint8 and stream.is_image.sum() == len(stream.patches)
    batch = assemble_rows([[_whole(stream)]], len(stream))
    assert batch.patches.dtype == np.float32
    # Re-tokenizing the same episode gives bit-identical float patches and ids.
    batch.check()
    assert np.array_equal(batch.token_ids[0], stream.token_ids)
    assert np.array_equal(batch.local_positions[0], stream.local_positions)


def _whole(stream):
    from gato_eval.corpus.sequences import Segment

    return Segment(stream, 0, len(stream))


def test_packed_patches_equal_the_tokenizer_output(text_tokenizer):
    episodes = collect("atari-pong", episodes=1, steps=4)
    env = make_env("atari-pong")
    tokenizer = TimestepTokenizer.for_env(env, LAYOUT, text_tokenizer)
    env.close()
    direct = tokenizer.encode_episode(episodes[0].observations, episodes[0].actions)
    stream = TokenStream.from_token_batch(direct)
    packed = assemble_rows([[_whole(stream)]], direct.shape[1])
    for name in ("token_ids", "is_image", "loss_mask", "timestep_start", "patch_row_interval"):
        assert np.array_equal(getattr(packed, name), getattr(direct, name)), name
    assert np.array_equal(packed.patches, direct.patches)  # bit-exact floats


def _check_segment_rows(batch, infos, sources, context):
    """Each row is: [prompt window of another episode] + window of the episode, whole timesteps."""
    assert batch.shape == (len(infos), context)
    batch.check()
    for b, info in enumerate(infos):
        source = sources[info.source]
        row_at = 0
        parts = []
        if info.prompt:
            assert info.prompt_item != info.item
            parts.append(
                (source.episodes[info.prompt_item], info.prompt_start, info.prompt_end, False)
            )
        parts.append((source.episodes[info.item], info.start, info.end, True))
        for stream, start, end, loss in parts:
            starts = set(stream.timestep_starts().tolist())
            assert start in starts, "a segment must begin at a timestep start"
            assert end in starts or end == len(stream), "a segment must end at a timestep end"
            n = end - start
            assert np.array_equal(
                batch.token_ids[b, row_at : row_at + n], stream.token_ids[start:end]
            )
            assert batch.timestep_start[b, row_at]
            expected_loss = stream.loss_mask[start:end] & loss
            assert np.array_equal(batch.loss_mask[b, row_at : row_at + n], expected_loss)
            row_at += n
        assert batch.valid[b].sum() == row_at <= context


def test_packing_respects_timestep_boundaries(cartpole, babyai, pong):
    sources = {
        "dmc-cartpole-balance": EpisodeSource("dmc-cartpole-balance", cartpole[0]),
        "babyai-go-to-red-ball": EpisodeSource("babyai-go-to-red-ball", babyai[0]),
        "atari-pong": EpisodeSource("atari-pong", pong[0]),
    }
    weights = dict.fromkeys(sources, 1.0)
    sampler = SequenceSampler(sources, weights, CONTEXT, seed=0, prompt_probability=0.5)
    for step in range(25):
        batch, infos = sampler.sample_batch(step, batch_size=8)
        _check_segment_rows(batch, infos, sources, CONTEXT)
        for b, info in enumerate(infos):
            if not info.prompt:  # a long episode fills the context up to one timestep
                per_step = sources[info.source].episodes[info.item].timestep_starts()[1]
                total = len(sources[info.source].episodes[info.item])
                assert batch.valid[b].sum() > min(CONTEXT - per_step, total - 1) or (
                    info.end == total
                )
        # Patches follow the image positions (the model checks this count too).
        assert len(batch.patches) == batch.is_image.sum()


def test_a_quarter_of_sequences_get_a_prompt_half_from_the_episode_end(cartpole):
    source = EpisodeSource("dmc-cartpole-balance", cartpole[0])
    sampler = SequenceSampler({"t": source}, {"t": 1.0}, CONTEXT, seed=3)
    infos = [info for step in range(100) for info in sampler.sample_batch(step, 40)[1]]
    n = len(infos)  # 4000 sequences
    prompted = [i for i in infos if i.prompt]
    share = len(prompted) / n
    assert abs(share - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n), share
    ends = sum(i.prompt == "end" for i in prompted) / len(prompted)
    assert abs(ends - 0.5) < 4 * np.sqrt(0.25 / len(prompted)), ends
    for info in prompted:
        prompt_len = info.prompt_end - info.prompt_start
        assert 0 < prompt_len <= CONTEXT // 2
        assert info.prompt_item != info.item
        if info.prompt == "end":
            assert info.prompt_end == len(source.episodes[info.prompt_item])
    # Uniform prompts start anywhere, not only at the start or the end.
    uniform_starts = {i.prompt_start for i in prompted if i.prompt == "uniform"}
    assert len(uniform_starts) > 5


def test_sampling_is_a_pure_function_of_seed_and_step(cartpole, babyai):
    def make(seed, stream=0):
        sources = {
            "a": EpisodeSource("dmc-cartpole-balance", cartpole[0]),
            "b": EpisodeSource("babyai-go-to-red-ball", babyai[0]),
        }
        return SequenceSampler(sources, {"a": 1.0, "b": 2.0}, CONTEXT, seed=seed, stream=stream)

    first, again = make(5), make(5)
    a7, infos7 = first.sample_batch(7, 6)
    first.sample_batch(8, 6)
    b7, again7 = again.sample_batch(7, 6)  # no history: step 7 alone
    assert infos7 == again7 and np.array_equal(a7.token_ids, b7.token_ids)
    assert not np.array_equal(first.sample_batch(9, 6)[0].token_ids, a7.token_ids)
    assert make(6).sample_batch(7, 6)[1] != infos7
    assert make(5, stream=1).sample_batch(7, 6)[1] != infos7


def test_source_weights_set_how_often_each_source_is_drawn(cartpole, babyai):
    sources = {
        "a": EpisodeSource("dmc-cartpole-balance", cartpole[0]),
        "b": EpisodeSource("babyai-go-to-red-ball", babyai[0]),
    }
    sampler = SequenceSampler(sources, {"a": 3.0, "b": 1.0}, CONTEXT, seed=0)
    infos = [i for step in range(50) for i in sampler.sample_batch(step, 40)[1]]
    share = sum(i.source == "dmc-cartpole-balance" for i in infos) / len(infos)
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / len(infos))


def test_text_rows_pack_documents_with_loss_on_all_but_each_first_token(text_tokenizer):
    docs = generate_procedural_paragraphs(1, 3_000)
    streams = [TokenStream.from_token_batch(encode_text(d, text_tokenizer, LAYOUT)) for d in docs]
    source = TextSource(streams)
    sampler = SequenceSampler({"text": source}, {"text": 1.0}, CONTEXT, seed=0)
    batch, infos = sampler.sample_batch(0, 16)
    batch.check()
    firsts = set(np.cumsum([0, *[len(s) for s in streams]]).tolist())
    for b, info in enumerate(infos):
        assert info.start in firsts
        n = info.end - info.start
        assert n == CONTEXT or info.end == source.num_tokens
        for k in range(n):
            assert batch.loss_mask[b, k] == ((info.start + k) not in firsts)
    assert not batch.is_image.any()


def test_caption_rows_hold_whole_examples_with_loss_on_captions(text_tokenizer):
    captions = CaptionSet(num_examples=50, seed=0, image_size=32)

    def encode(index):
        example = captions[index]
        return encode_image_caption(example.image, example.caption, text_tokenizer, LAYOUT)

    source = CaptionSource(encode, first=10, count=20)
    sampler = SequenceSampler({"captions": source}, {"captions": 1.0}, CONTEXT, seed=0)
    batch, infos = sampler.sample_batch(0, 4)
    batch.check()
    for b in range(4):
        n = int(batch.valid[b].sum())
        starts = np.flatnonzero(batch.timestep_start[b])
        assert len(starts) >= 2 and starts[0] == 0  # several examples per row
        assert np.array_equal(batch.loss_mask[b, :n], ~batch.is_image[b, :n])
        # Every example is whole: 4 patches of a 32x32 image, then its caption.
        for s in starts:
            assert batch.is_image[b, s : s + 4].all() and not batch.is_image[b, s + 4]
        assert 10 <= infos[b].item < 30


def test_a_timestep_longer_than_the_context_is_a_clear_error(pong):
    source = EpisodeSource("atari-pong", pong[0])
    sampler = SequenceSampler({"p": source}, {"p": 1.0}, 10, seed=0, prompt_probability=0.0)
    with pytest.raises(GatoEvalError, match="longer than the 10 positions"):
        sampler.sample_batch(0, 2)


def test_chunked_episode_tokenization_equals_the_whole(text_tokenizer):
    from gato_eval.training.data import encode_episode_stream

    episode = collect("atari-pong", episodes=1, steps=7)[0]
    env = make_env("atari-pong")
    tokenizer = TimestepTokenizer.for_env(env, LAYOUT, text_tokenizer)
    env.close()
    whole = TokenStream.from_token_batch(
        tokenizer.encode_episode(episode.observations, episode.actions)
    )
    chunked = encode_episode_stream(tokenizer, episode, "atari-pong", chunk=3)
    for name in whole.__dataclass_fields__:
        assert np.array_equal(getattr(whole, name), getattr(chunked, name)), name
