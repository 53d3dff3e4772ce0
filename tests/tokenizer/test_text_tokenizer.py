"""SentencePiece text tokens: training, loading, memoization, layout agreement (Sec. 2.1)."""

from __future__ import annotations

import pickle

import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.layout import PAPER_LAYOUT, TokenLayout
from gato_eval.tokenizer.text import (
    PAPER_TEXT_VOCAB_SIZE,
    TextTokenizer,
    check_text_vocab,
    train_text_tokenizer,
)

MISSIONS = ["go to the red ball", "pick up a blue key", "open the yellow door"] * 3


def test_paper_text_vocabulary():
    assert PAPER_TEXT_VOCAB_SIZE == 32000 == PAPER_LAYOUT.text_vocab_size


@pytest.mark.parametrize("vocab_size", [256, 512, 1024])
@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_small_corpus_gives_exactly_the_vocab_size(tmp_path, vocab_size, model_type):
    path = tmp_path / "t.model"
    tokenizer = train_text_tokenizer(MISSIONS, vocab_size, path, model_type=model_type)
    assert tokenizer.vocab_size == vocab_size
    assert TextTokenizer.load(path).vocab_size == vocab_size
    for mission in MISSIONS:
        ids = tokenizer.encode(mission)
        assert all(0 <= i < vocab_size for i in ids)
        assert tokenizer.decode(ids) == mission


def test_training_is_deterministic(tmp_path):
    corpus = [
        f"step {i}: the agent moves {i % 7} cells to the {'left' if i % 2 else 'right'}"
        for i in range(300)
    ]
    train_text_tokenizer(corpus, 200, tmp_path / "a.model")
    train_text_tokenizer(iter(corpus), 200, tmp_path / "b.model")  # a one-shot iterator works
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()


def test_bpe_keeps_mission_words_whole(mission_tokenizer):
    # Short missions matter: every token of text is context the policy pays for each step.
    assert len(mission_tokenizer.encode("go to the red ball")) <= 6


def test_encode_is_memoized_and_safe(mission_tokenizer):
    first = mission_tokenizer.encode_array("open the red door")
    assert mission_tokenizer.encode_array("open the red door") is first
    assert not first.flags.writeable
    as_list = mission_tokenizer.encode("open the red door")
    as_list.append(-1)  # a caller mutating its list cannot corrupt the cache
    assert mission_tokenizer.encode("open the red door") == first.tolist()


def test_pickles_by_model_bytes(mission_tokenizer):
    copy = pickle.loads(pickle.dumps(mission_tokenizer))
    assert copy.model_bytes == mission_tokenizer.model_bytes
    assert copy.encode("pick up a grey box") == mission_tokenizer.encode("pick up a grey box")


def test_unseen_characters(tmp_path, mission_tokenizer):
    assert 0 in mission_tokenizer.encode("zebra")  # <unk> without byte fallback
    fallback = train_text_tokenizer(MISSIONS, 300, tmp_path / "b.model", byte_fallback=True)
    ids = fallback.encode("zebra ☃")
    assert 0 not in ids and fallback.decode(ids) == "zebra ☃"


def test_vocab_must_match_layout(mission_tokenizer):
    check_text_vocab(mission_tokenizer, TokenLayout.for_text_vocab(mission_tokenizer.vocab_size))
    with pytest.raises(GatoEvalError, match=r"128 pieces .* reserves 32000 text ids"):
        check_text_vocab(mission_tokenizer, PAPER_LAYOUT)


def test_user_errors_are_one_line(tmp_path):
    with pytest.raises(GatoEvalError, match="empty corpus"):
        train_text_tokenizer(["", "   \n"], 256, tmp_path / "x.model")
    with pytest.raises(GatoEvalError, match="smaller than required_chars"):
        train_text_tokenizer(["abcdefghijklmnopqrstuvwxyz"], 16, tmp_path / "x.model")
    with pytest.raises(GatoEvalError, match="not found"):
        TextTokenizer.load(tmp_path / "missing.model")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(GatoEvalError, match="not a SentencePiece model"):
        TextTokenizer.load(tmp_path / "junk.model")


def test_decoding_ids_outside_the_vocabulary_is_refused(mission_tokenizer):
    with pytest.raises(GatoEvalError, match=r"text ids outside \[0, 128\): \[128\]"):
        mission_tokenizer.decode([5, 128])
