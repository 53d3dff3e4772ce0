"""Everything a training run reads, made ready once: episodes, text, captions, the tokenizer.

`prepare_training_data` turns a resolved `Mixture` into two `SequenceSampler`s (training and
held-back evaluation) and the provenance a checkpoint records:

1. control episodes per task (every local data set of the task, clean and noise-injected, or
   episodes handed in), split by the seed into training and held-back evaluation episodes
   (`eval_fraction`, at least one when a task has two or more episodes);
2. the SentencePiece model: loaded when the run already has one (resume, fine-tuning), else
   trained on the text the model sees: the corpus, the caption texts and the BabyAI missions;
3. every episode and document tokenized once (`TokenStream`), captions rendered on demand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.core.episode import Episode
from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import home_dir
from gato_eval.corpus.captions import CaptionSet
from gato_eval.corpus.mixtures import Mixture
from gato_eval.corpus.sequences import (
    CaptionSource,
    EpisodeSource,
    SequenceSampler,
    TextSource,
)
from gato_eval.corpus.text import load_text_corpus
from gato_eval.corpus.token_stream import TokenStream
from gato_eval.data.datasets import list_datasets, load_episodes
from gato_eval.suites.registry import make_env
from gato_eval.tokenizer.documents import encode_image_caption, encode_text
from gato_eval.tokenizer.layout import TokenLayout
from gato_eval.tokenizer.text import TextTokenizer, check_text_vocab, train_text_tokenizer
from gato_eval.tokenizer.timestep import TimestepTokenizer

TRAIN_STREAM, EVAL_STREAM = 0, 1  # sampler streams: evaluation never draws training batches
CAPTION_EVAL_EXAMPLES = 1_000
TOKENIZER_FILE = "text.model"
_SENTENCEPIECE_CAPTIONS = 20_000  # caption texts the tokenizer trains on (they repeat a lot)


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
    tokenizer_path: the SentencePiece model the run uses; provenance: JSON-ready description;
    ordinal_sources: the tasks whose action targets are bins of a continuous (Box) action, whose
    neighbouring bins mean nearly the same action (label smoothing applies to them only)."""

    train: SequenceSampler
    eval: SequenceSampler | None
    tokenizer_path: Path
    provenance: dict[str, Any] = field(default_factory=dict)
    ordinal_sources: frozenset[str] = frozenset()


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
    episodes, dataset_sources = _load_episodes(mixture.task_ids, episodes_by_task, log)
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
    ordinal: set[str] = set()
    for task, (train_eps, eval_eps) in split.items():
        log(f"tokenizing {task}: {len(train_eps) + len(eval_eps)} episodes")
        tokenizer = _timestep_tokenizer(task, layout, text_tokenizer)
        if not tokenizer.actions.is_discrete:
            ordinal.add(task)
        train_streams = [encode_episode_stream(tokenizer, e, task) for e in train_eps]
        train_sources[task] = EpisodeSource(task, train_streams)
        eval_tokens = 0
        if eval_eps:
            eval_streams = [encode_episode_stream(tokenizer, e, task) for e in eval_eps]
            eval_sources[task] = EpisodeSource(task, eval_streams)
            eval_tokens = eval_sources[task].num_tokens
        datasets[task] = {
            "sources": dataset_sources[task],
            "episodes": len(train_eps) + len(eval_eps),
            "train_episodes": len(train_eps),
            "eval_episodes": len(eval_eps),
            "eval_episode_seeds": [int(e.seed) for e in eval_eps],
            "steps": int(sum(e.length for e in train_eps + eval_eps)),
            "train_tokens": train_sources[task].num_tokens,
            "eval_tokens": eval_tokens,
        }

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
    return TrainingData(train, evaluation, tokenizer_path, provenance, frozenset(ordinal))


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
) -> tuple[dict[str, list[Episode]], dict[str, list[dict[str, Any]]]]:
    """(task -> episodes, task -> the data sets they came from); handed-in episodes win."""
    episodes: dict[str, list[Episode]] = {}
    sources: dict[str, list[dict[str, Any]]] = {}
    for task in task_ids:
        if given is not None and task in given:
            episodes[task] = list(given[task])
            sources[task] = [{"name": "(episodes handed to train)", "episodes": len(given[task])}]
        else:
            log(f"loading the data sets of {task}")
            episodes[task], sources[task] = load_task_episodes(task)
        episodes[task] = [e for e in episodes[task] if e.length > 0]  # 0 steps: no tokens
        if not episodes[task]:
            raise GatoEvalError(f"the data set of {task} holds no episodes with steps")
    return episodes, sources


def load_task_episodes(task_id: str) -> tuple[list[Episode], list[dict[str, Any]]]:
    """Every episode of every local data set of `task_id` (clean and noise-injected alike:
    all are demonstrations labelled with the expert's clean actions), in name order, and a
    description of each data set (name, noise, episodes, sha256, demonstrator)."""

    infos = [info for info in list_datasets() if info.task_id == task_id]
    if not infos:
        raise GatoEvalError(
            f"task {task_id} has no data set: collect one with "
            f"'gato-eval data collect --task {task_id} --episodes N'"
        )
    episodes: list[Episode] = []
    described = []
    for info in infos:
        episodes.extend(load_episodes(info.name))
        described.append(
            {
                "name": info.name,
                "noise": info.noise,
                "episodes": info.episodes,
                "steps": info.steps,
                "sha256": info.sha256,
                "demonstrator": info.demonstrator,
                "expert_score": info.expert_score,
            }
        )
    return episodes, described


def _timestep_tokenizer(task_id: str, layout: TokenLayout, text_tokenizer):
    """The task's tokenizer, from the spaces its environment declares (the authority)."""

    env = make_env(task_id)
    try:
        return TimestepTokenizer.for_env(env, layout, text_tokenizer)
    finally:
        env.close()


def encode_episode_stream(
    tokenizer, episode: Episode, task_id: str, chunk: int = 2048
) -> TokenStream:
    """An episode's TokenStream, tokenized `chunk` timesteps at a time (timesteps encode
    independently), so a 13,000-step Atari game never holds all its float patches at once."""
    streams = []
    for start in range(0, episode.length, chunk):
        end = min(start + chunk, episode.length)
        observations = {key: value[start:end] for key, value in episode.observations.items()}
        try:
            batch = tokenizer.encode_episode(observations, episode.actions[start:end])
        except GatoEvalError as err:
            raise GatoEvalError(f"{task_id} episode (seed {episode.seed}): {err}") from None
        streams.append(TokenStream.from_token_batch(batch))
    return streams[0] if len(streams) == 1 else TokenStream.concatenate(streams)


def _tokenizer_cache_path(texts: list[str], vocab_size: int) -> Path:
    """Where the SentencePiece model trained on exactly `texts` is cached."""
    digest = hashlib.sha256(f"spm-v1:{vocab_size}".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return home_dir() / "tokenizers" / f"text-{vocab_size}-{digest.hexdigest()[:20]}.model"


def _text_tokenizer(path, layout, corpus, captions, episodes, log):
    """Load the SentencePiece model at `path`, or train it on the text the model sees."""

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
    texts = [*corpus.documents, *caption_texts, *missions]
    cached = _tokenizer_cache_path(texts, layout.text_vocab_size)
    tokenizer = None
    if cached.is_file():
        # SentencePiece training is deterministic: the cached model is the one training makes.
        try:
            tokenizer = TextTokenizer.load(cached)
            check_text_vocab(tokenizer, layout)
            shutil.copyfile(cached, path)
        except (GatoEvalError, OSError):
            tokenizer = None  # a damaged cache entry: train again, and replace it
    if tokenizer is None:
        log(
            f"training the SentencePiece model ({layout.text_vocab_size} pieces) on "
            f"{len(corpus.documents):,} documents, {len(caption_texts):,} captions and "
            f"{len(missions):,} missions"
        )
        tokenizer = train_text_tokenizer(texts, layout.text_vocab_size, path)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            shutil.copyfile(path, temporary)
            os.replace(temporary, cached)
        except OSError:
            pass  # the cache only saves time
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


def data_identity(provenance: dict[str, Any]) -> dict[str, Any]:
    """The parts of the data provenance that must not change for a resume to be exact."""
    datasets = provenance.get("datasets", {})
    return {
        "mixture": provenance.get("mixture", {}).get("components"),
        "datasets": {
            task: [info["train_episodes"], info["eval_episodes"], info["steps"]]
            for task, info in datasets.items()
        },
        "text": (provenance.get("text") or {}).get("sha256"),
    }
