"""Everything a training run reads, made ready once: episodes, text, captions, the tokenizer.

`prepare_training_data` turns a resolved `Mixture` into two `SequenceSampler`s (training and
held-back evaluation) and the provenance a checkpoint records:

1. control episodes per task (from the data sets, or handed in), split by the seed into
   training and held-back evaluation episodes (`eval_fraction`, at least one when a task has
   two or more episodes);
2. the SentencePiece model: loaded when the run already has one (resume, fine-tuning), else
   trained on the text the model sees: the corpus, the caption texts and the BabyAI missions;
3. every episode and document tokenized once (`TokenStream`), captions rendered on demand.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.data.captions import CaptionSet
from gato_eval.data.corpus import load_text_corpus
from gato_eval.data.episode import Episode
from gato_eval.data.mixtures import Mixture
from gato_eval.data.sequences import (
    CaptionSource,
    EpisodeSource,
    SequenceSampler,
    TextSource,
    TokenStream,
)
from gato_eval.errors import GatoEvalError
from gato_eval.tokenizer.layout import TokenLayout

TRAIN_STREAM, EVAL_STREAM = 0, 1  # sampler streams: evaluation never draws training batches
CAPTION_EVAL_EXAMPLES = 1_000
TOKENIZER_FILE = "text.model"
_SENTENCEPIECE_CAPTIONS = 20_000  # caption texts the tokenizer trains on (they repeat a lot)

EpisodeLoader = Callable[[str], list[Episode]]


@dataclass
class DataOptions:
    """How a mixture becomes sequences.

    eval_fraction: share of each task's episodes (and of the text documents) held back for the
    evaluation loss; text_characters: corpus size; caption_examples: distinct training scenes;
    prompt_probability / prompt_fraction: the prompt rule (GATO.md section 3).
    """

    context_length: int
    seed: int = 0
    eval_fraction: float = 0.05
    text_characters: int = 3_000_000
    caption_examples: int = 100_000
    prompt_probability: float = 0.25
    prompt_fraction: float = 0.5


@dataclass
class TrainingData:
    """train: the training sampler; eval: the held-back sampler (None when nothing is held back);
    tokenizer_path: the SentencePiece model the run uses; provenance: JSON-ready description."""

    train: SequenceSampler
    eval: SequenceSampler | None
    tokenizer_path: Path
    provenance: dict[str, Any] = field(default_factory=dict)


def prepare_training_data(
    mixture: Mixture,
    layout: TokenLayout,
    options: DataOptions,
    tokenizer_path: Path,
    episodes_by_task: dict[str, list[Episode]] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> TrainingData:
    """Load, split and tokenize everything `mixture` names (see the module docstring).

    tokenizer_path: an existing SentencePiece model to use, or where to write the one trained
    here. episodes_by_task: episodes to use instead of the data sets (tests, fine-tuning).
    """
    started = time.perf_counter()
    episodes = _load_episodes(mixture.task_ids, episodes_by_task, log)
    split = {
        task: split_episodes(eps, options.eval_fraction, options.seed, task)
        for task, eps in episodes.items()
    }
    corpus = None
    if "text" in mixture.no_control_sources or not tokenizer_path.is_file():
        log(f"building the text corpus ({options.text_characters:,} characters)")
        corpus = load_text_corpus(max_characters=options.text_characters, seed=options.seed)
    captions = CaptionSet(
        num_examples=options.caption_examples + CAPTION_EVAL_EXAMPLES, seed=options.seed
    )
    text_tokenizer, tokenizer_info = _text_tokenizer(
        tokenizer_path, layout, corpus, captions, episodes, log
    )

    train_sources: dict[str, Any] = {}
    eval_sources: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    for task, (train_eps, eval_eps) in split.items():
        log(f"tokenizing {task}: {len(train_eps) + len(eval_eps)} episodes")
        tokenizer = _timestep_tokenizer(task, layout, text_tokenizer)
        train_streams = [_encode_episode(tokenizer, e, task) for e in train_eps]
        train_sources[task] = EpisodeSource(task, train_streams)
        eval_tokens = 0
        if eval_eps:
            eval_streams = [_encode_episode(tokenizer, e, task) for e in eval_eps]
            eval_sources[task] = EpisodeSource(task, eval_streams)
            eval_tokens = eval_sources[task].num_tokens
        datasets[task] = {
            "episodes": len(train_eps) + len(eval_eps),
            "train_episodes": len(train_eps),
            "eval_episodes": len(eval_eps),
            "eval_episode_seeds": [int(e.seed) for e in eval_eps],
            "steps": int(sum(e.length for e in train_eps + eval_eps)),
            "train_tokens": train_sources[task].num_tokens,
            "eval_tokens": eval_tokens,
        }

    from gato_eval.tokenizer.documents import encode_image_caption, encode_text

    text_info = None
    if "text" in mixture.no_control_sources:
        documents = [
            TokenStream.from_token_batch(encode_text(doc, text_tokenizer, layout))
            for doc in corpus.documents
        ]
        held = _held_back_count(len(documents), options.eval_fraction)
        train_sources["text"] = TextSource(documents[: len(documents) - held])
        if held:
            eval_sources["text"] = TextSource(documents[len(documents) - held :])
        text_info = {
            **corpus.provenance(),
            "train_documents": len(documents) - held,
            "eval_documents": held,
            "train_tokens": train_sources["text"].num_tokens,
        }
    caption_info = None
    if "captions" in mixture.no_control_sources:

        def encode_caption(index: int):
            example = captions[index]
            return encode_image_caption(example.image, example.caption, text_tokenizer, layout)

        train_sources["captions"] = CaptionSource(encode_caption, 0, options.caption_examples)
        eval_sources["captions"] = CaptionSource(
            encode_caption, options.caption_examples, CAPTION_EVAL_EXAMPLES
        )
        caption_info = {
            **captions.provenance(),
            "train_examples": options.caption_examples,
            "eval_examples": CAPTION_EVAL_EXAMPLES,
        }

    weights = {c.source: c.weight for c in mixture.components}
    sampler_args = {
        "context_length": options.context_length,
        "seed": options.seed,
        "prompt_probability": options.prompt_probability,
        "prompt_fraction": options.prompt_fraction,
    }
    train = SequenceSampler(train_sources, weights, stream=TRAIN_STREAM, **sampler_args)
    evaluation = None
    if eval_sources:
        evaluation = SequenceSampler(eval_sources, weights, stream=EVAL_STREAM, **sampler_args)
    provenance = {
        "mixture": mixture.to_dict(),
        "datasets": datasets,
        "text": text_info,
        "captions": caption_info,
        "tokenizer": tokenizer_info,
        "packing": {
            "context_length": options.context_length,
            "prompt_probability": options.prompt_probability,
            "prompt_fraction": options.prompt_fraction,
            "eval_fraction": options.eval_fraction,
            "seed": options.seed,
        },
        "prepare_s": round(time.perf_counter() - started, 2),
    }
    return TrainingData(train, evaluation, tokenizer_path, provenance)


def split_episodes(
    episodes: list[Episode], eval_fraction: float, seed: int, task_id: str = ""
) -> tuple[list[Episode], list[Episode]]:
    """(training, held-back) episodes: a seeded choice of round(eval_fraction * n) episodes,
    at least one when n >= 2 and eval_fraction > 0, never all of them. Order is kept."""
    held = _held_back_count(len(episodes), eval_fraction)
    digest = hashlib.sha256(task_id.encode()).digest()
    rng = np.random.default_rng([seed, int.from_bytes(digest[:4], "little")])
    chosen = set(rng.choice(len(episodes), size=held, replace=False).tolist()) if held else set()
    train = [e for i, e in enumerate(episodes) if i not in chosen]
    held_back = [e for i, e in enumerate(episodes) if i in chosen]
    return train, held_back


def _held_back_count(n: int, eval_fraction: float) -> int:
    if eval_fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(eval_fraction * n)))


def _load_episodes(
    task_ids: list[str],
    given: dict[str, list[Episode]] | None,
    log: Callable[[str], None],
) -> dict[str, list[Episode]]:
    episodes: dict[str, list[Episode]] = {}
    loader = None
    for task in task_ids:
        if given is not None and task in given:
            episodes[task] = list(given[task])
        else:
            loader = loader or default_episode_loader()
            log(f"loading the data set of {task}")
            episodes[task] = list(loader(task))
        if not episodes[task]:
            raise GatoEvalError(f"the data set of {task} holds no episodes")
    return episodes


def default_episode_loader() -> EpisodeLoader:
    """`load_episodes(task_id)` of the local demonstration data sets."""
    from gato_eval.data.datasets import load_episodes

    return load_episodes


def _timestep_tokenizer(task_id: str, layout: TokenLayout, text_tokenizer):
    """The task's tokenizer, from the spaces its environment declares (the authority)."""
    from gato_eval.suites.registry import make_env
    from gato_eval.tokenizer.timestep import TimestepTokenizer

    env = make_env(task_id)
    try:
        return TimestepTokenizer.for_env(env, layout, text_tokenizer)
    finally:
        env.close()


def _encode_episode(tokenizer, episode: Episode, task_id: str) -> TokenStream:
    try:
        batch = tokenizer.encode_episode(episode.observations, episode.actions)
    except GatoEvalError as err:
        raise GatoEvalError(f"{task_id} episode (seed {episode.seed}): {err}") from None
    return TokenStream.from_token_batch(batch)


def _text_tokenizer(path, layout, corpus, captions, episodes, log):
    """Load the SentencePiece model at `path`, or train it on the text the model sees."""
    from gato_eval.tokenizer.text import TextTokenizer, check_text_vocab, train_text_tokenizer

    if path.is_file():
        tokenizer = TextTokenizer.load(path)
        check_text_vocab(tokenizer, layout)
        return tokenizer, {
            "file": path.name,
            "vocab_size": tokenizer.vocab_size,
            "trained_here": False,
        }
    missions = sorted(
        {
            str(text)
            for eps in episodes.values()
            for episode in eps
            for text in episode.observations.get("text", [])
        }
    )
    caption_texts = captions.captions(limit=_SENTENCEPIECE_CAPTIONS)
    log(
        f"training the SentencePiece model ({layout.text_vocab_size} pieces) on "
        f"{len(corpus.documents):,} documents, {len(caption_texts):,} captions and "
        f"{len(missions):,} missions"
    )
    tokenizer = train_text_tokenizer(
        [*corpus.documents, *caption_texts, *missions], layout.text_vocab_size, path
    )
    info = {
        "file": path.name,
        "vocab_size": tokenizer.vocab_size,
        "trained_here": True,
        "trained_on": {
            "corpus_sha256": corpus.digest(),
            "corpus_documents": len(corpus.documents),
            "captions": len(caption_texts),
            "missions": len(missions),
        },
    }
    return tokenizer, info
