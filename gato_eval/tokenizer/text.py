"""Text tokens: a SentencePiece model, trained here or loaded from a `.model` file.

Paper Sec. 2.1: text is encoded with SentencePiece into 32000 subwords, ids [0, 32000). Tiny
presets use smaller vocabularies; the `TokenLayout` records the size, and a tokenizer whose size
differs from its layout is refused (`check_text_vocab`).

Training is deterministic (one thread, no sentence sampling or shuffling): the same texts and
vocab size give the same `.model` bytes. A corpus too small to fill the requested vocabulary
(BabyAI missions use ~40 words) is padded with UNUSED pieces, which SentencePiece never emits,
so any vocab size from the corpus's minimum upwards yields exactly that many ids.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.layout import TokenLayout

PAPER_TEXT_VOCAB_SIZE = 32000  # Sec. 2.1
ENCODE_CACHE_SIZE = 4096  # distinct strings remembered (missions repeat at every step)
_MAX_SENTENCE_BYTES = 1 << 16  # SentencePiece silently skips longer lines by default (4192)


def _corpus_lines(texts: Iterable[str]) -> Iterator[str]:
    """Non-empty lines of the texts: SentencePiece trains on one sentence per item."""
    for text in texts:
        if not isinstance(text, str):
            raise GatoEvalError(f"text corpus items must be str, got {type(text).__name__}")
        for line in text.splitlines():
            if line.strip():
                yield line


def _pad_with_unused_pieces(model_bytes: bytes, vocab_size: int) -> bytes:
    """Append UNUSED pieces until the model has exactly `vocab_size` pieces."""
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    model = model_pb2.ModelProto()
    model.ParseFromString(model_bytes)
    for index in range(len(model.pieces), vocab_size):
        piece = model.pieces.add()
        piece.piece = f"<unused_{index}>"
        piece.score = 0.0
        piece.type = model_pb2.ModelProto.SentencePiece.UNUSED
    return model.SerializeToString()


def train_text_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    out_path: str | os.PathLike,
    *,
    model_type: str = "unigram",
    byte_fallback: bool = False,
) -> TextTokenizer:
    """Train a SentencePiece model on `texts` (in memory), write it to `out_path`, load it.

    Every line of every text is one training sentence. `vocab_size` is exact: a corpus that
    supports fewer pieces is padded with never-emitted UNUSED pieces. `byte_fallback=True`
    encodes characters unseen in training as UTF-8 byte pieces instead of `<unk>` (it needs
    vocab_size > 259). Ids 0, 1, 2 are `<unk>`, `<s>`, `</s>` (SentencePiece defaults).
    """
    import sentencepiece as spm

    if vocab_size < 8:
        raise GatoEvalError(f"text vocab_size must be at least 8, got {vocab_size}")
    lines = list(_corpus_lines(texts))
    if not lines:
        raise GatoEvalError("cannot train a text tokenizer on an empty corpus")
    buffer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=buffer,
            vocab_size=vocab_size,
            model_type=model_type,
            hard_vocab_limit=False,  # small corpora: fewer pieces, padded below
            byte_fallback=byte_fallback,
            character_coverage=1.0,
            num_threads=1,  # determinism: multi-threaded EM sums in a varying order
            input_sentence_size=0,  # use every sentence, no random sampling
            shuffle_input_sentence=False,
            max_sentence_length=_MAX_SENTENCE_BYTES,
            minloglevel=2,
        )
    except RuntimeError as err:
        raise GatoEvalError(f"SentencePiece training failed: {_short_message(err)}") from None
    model_bytes = _pad_with_unused_pieces(buffer.getvalue(), vocab_size)
    tokenizer = TextTokenizer(model_bytes)
    if tokenizer.vocab_size != vocab_size:
        raise GatoEvalError(
            f"SentencePiece made {tokenizer.vocab_size} pieces, more than the {vocab_size} asked "
            "for: the corpus has too many distinct characters for this vocab size"
        )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(model_bytes)
    return tokenizer


def _short_message(err: Exception) -> str:
    """SentencePiece's last error line without its source-location prefix."""
    text = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
    return re.sub(r"^.*?\]\s*", "", text) or text


class TextTokenizer:
    """A loaded SentencePiece model: text <-> ids in [0, vocab_size).

    `encode` is memoized (BabyAI repeats one mission at every step of an episode). Instances
    pickle by their model bytes, so they travel to worker processes.
    """

    def __init__(self, model_bytes: bytes, source: str = "<memory>") -> None:
        import sentencepiece as spm

        self._model_bytes = bytes(model_bytes)
        self.source = source
        self._processor = spm.SentencePieceProcessor()
        try:
            self._processor.LoadFromSerializedProto(self._model_bytes)
        except (RuntimeError, OSError):
            raise GatoEvalError(f"{source}: not a SentencePiece model (cannot parse it)") from None
        self._encode_cached = functools.lru_cache(maxsize=ENCODE_CACHE_SIZE)(self._encode_new)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TextTokenizer:
        """Load a SentencePiece `.model` file."""
        path = Path(path)
        if not path.is_file():
            raise GatoEvalError(f"text tokenizer file not found: {path}")
        return cls(path.read_bytes(), source=str(path))

    @property
    def model_bytes(self) -> bytes:
        """The serialized model (what `load` reads), for storing inside a checkpoint."""
        return self._model_bytes

    @property
    def vocab_size(self) -> int:
        return int(self._processor.GetPieceSize())

    def _encode_new(self, text: str) -> np.ndarray:
        ids = np.asarray(self._processor.EncodeAsIds(text), dtype=np.int64)
        ids.setflags(write=False)  # shared by every caller of the cache
        return ids

    def encode_array(self, text: str) -> np.ndarray:
        """Ids of `text` as a read-only int64 (n,) array (memoized)."""
        if not isinstance(text, str):
            raise GatoEvalError(f"text to encode must be str, got {type(text).__name__}")
        return self._encode_cached(text)

    def encode(self, text: str) -> list[int]:
        """Ids of `text` (memoized), in [0, vocab_size)."""
        return self.encode_array(text).tolist()

    def decode(self, ids) -> str:
        """The text of a sequence of ids in [0, vocab_size)."""
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise GatoEvalError(
                f"text ids outside [0, {self.vocab_size}): {bad[:5]}"
                + (" ..." if len(bad) > 5 else "")
            )
        return self._processor.DecodeIds(ids)

    def __getstate__(self) -> dict:
        return {"model_bytes": self._model_bytes, "source": self.source}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model_bytes"], source=state["source"])

    def __repr__(self) -> str:
        return f"TextTokenizer(vocab_size={self.vocab_size}, source={self.source!r})"


def check_text_vocab(text: TextTokenizer, layout: TokenLayout) -> None:
    """Refuse a text tokenizer whose vocabulary differs from the layout's text id range."""
    if text.vocab_size != layout.text_vocab_size:
        raise GatoEvalError(
            f"text tokenizer {text.source} has {text.vocab_size} pieces but token layout "
            f"{layout.name!r} reserves {layout.text_vocab_size} text ids: use the tokenizer the "
            f"model was trained with, or TokenLayout.for_text_vocab({text.vocab_size})"
        )
