"""Packing training sequences: context-length rows cut from pre-tokenized episodes and documents.

Every source is tokenized once, up front, into a `TokenStream` (one flat row per episode, one
stream of all text documents); images are kept as uint8 patches, a quarter of the float memory,
and turned back into the tokenizer's exact float patches only for the rows of a batch. A batch
is then only slicing and copying, fast enough to keep a CPU model busy.

What one sequence of `context_length` positions holds (paper Sec. 2.3, GATO.md section 3):

- **control task**: a window of one episode that starts at a timestep start and holds whole
  timesteps only (the window start is uniform over the starts whose window still fills the
  context; a short episode fills what it can, the rest is padding). With probability 0.25 a
  prompt from *another* episode of the same task comes first: half the time that episode's
  **end**, half a **uniform** window, whole timesteps, at most `prompt_fraction` of the context.
  Loss on the episode's action tokens; the prompt is conditioning, not a target.
- **text**: consecutive corpus documents from a uniformly drawn document, cut at the context
  length (text may be cut anywhere). Loss on every token but each document's first.
- **captions**: consecutive (image, caption) examples of the caption set, whole examples only.
  Loss on the caption tokens.

Determinism: batch `step` of a sampler is a pure function of (seed, stream, step): nothing
carries over from one batch to the next, so a resumed run draws exactly the batches an
uninterrupted one would have, and the sampler's whole state is the next step number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.corpus.token_stream import TokenStream
from gato_eval.tokenizer.batch import PATCH_SIZE, TokenBatch
from gato_eval.tokenizer.images import images_to_patches
from gato_eval.tokenizer.prompt_window import prompt_window

PROMPT_PROBABILITY = 0.25  # Sec. 2.3: "for 25% of the sequences in each batch"
PROMPT_END_SHARE = 0.5  # Sec. 2.3: half from the episode's end, half uniformly sampled
DEFAULT_PROMPT_FRACTION = 0.5  # of the context; matches evaluation's default prompt length


@dataclass(frozen=True)
class Segment:
    """Positions [start, end) of `stream`; `loss` False masks its targets (a prompt)."""

    stream: TokenStream
    start: int
    end: int
    loss: bool = True

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SequenceInfo:
    """Where one packed row came from (for provenance, debugging and the packing tests).

    source: task id, `text` or `captions`; item: episode index (tasks), first document or
    example index; start, end: positions of the main part in that item; prompt: `end`,
    `uniform` or None; prompt_item, prompt_start, prompt_end: the prompt's episode and window.
    """

    source: str
    item: int
    start: int
    end: int
    prompt: str | None = None
    prompt_item: int | None = None
    prompt_start: int | None = None
    prompt_end: int | None = None


class EpisodeSource:
    """The pre-tokenized training episodes of one control task."""

    def __init__(self, task_id: str, episodes: Sequence[TokenStream]):
        episodes = [episode for episode in episodes if len(episode)]  # 0-step episodes: no tokens
        if not episodes:
            raise GatoEvalError(f"task {task_id} has no training episodes")
        self.task_id = task_id
        self.episodes = episodes
        self._starts = [episode.timestep_starts() for episode in self.episodes]
        self._lengths = np.array([len(e) for e in self.episodes], dtype=np.float64)
        self._longest = np.array(
            [
                np.diff(np.append(s, len(e))).max()
                for s, e in zip(self._starts, self.episodes, strict=True)
            ]
        )

    @property
    def num_tokens(self) -> int:
        return int(self._lengths.sum())

    def sample(
        self,
        rng: np.random.Generator,
        length: int,
        prompt_probability: float,
        prompt_fraction: float,
    ) -> tuple[list[Segment], SequenceInfo]:
        # Episodes are drawn in proportion to their token count, so every timestep of the data
        # set is about equally likely to be trained on, whatever the episode lengths.
        index = int(rng.choice(len(self.episodes), p=self._lengths / self._lengths.sum()))
        prompt_kind, other = None, None
        segments: list[Segment] = []
        budget = length
        wants_prompt = rng.random() < prompt_probability
        if wants_prompt and len(self.episodes) > 1:
            other = int(rng.integers(len(self.episodes) - 1))
            other += other >= index  # another episode of the same task
            prompt_kind = "end" if rng.random() < PROMPT_END_SHARE else "uniform"
            stream = self.episodes[other]
            # The prompt leaves room for at least the longest timestep of the episode itself.
            room = min(int(length * prompt_fraction), length - int(self._longest[index]))
            p_start, p_end = prompt_window(stream.timestep_start, prompt_kind, room, rng)
            if p_end > p_start:
                segments.append(Segment(stream, p_start, p_end, loss=False))
                budget -= p_end - p_start
            else:
                prompt_kind = None  # not one timestep of the other episode fits
        start, end = self._window(index, budget, rng)
        segments.append(Segment(self.episodes[index], start, end, loss=True))
        prompt = segments[0] if prompt_kind else None
        info = SequenceInfo(
            source=self.task_id,
            item=index,
            start=start,
            end=end,
            prompt=prompt_kind,
            prompt_item=other if prompt else None,
            prompt_start=prompt.start if prompt else None,
            prompt_end=prompt.end if prompt else None,
        )
        return segments, info

    def _window(self, index: int, budget: int, rng: np.random.Generator) -> tuple[int, int]:
        """Whole timesteps of episode `index`, at most `budget` positions, from a uniform start
        among the starts whose window fills the budget (or 0 when the episode is shorter)."""
        starts = self._starts[index]
        total = len(self.episodes[index])
        boundaries = np.append(starts, total)
        fits = starts[starts + budget <= total]
        start = int(fits[rng.integers(len(fits))]) if len(fits) else 0
        limit = int(np.searchsorted(boundaries, start + budget, side="right")) - 1
        end = int(boundaries[limit])
        if end <= start:
            raise GatoEvalError(
                f"task {self.task_id}: one timestep ({int(boundaries[1] - boundaries[0])} "
                f"positions) is longer than the {budget} positions available; use a model "
                "with a longer context"
            )
        return start, end


class TextSource:
    """Every corpus document, tokenized, as one stream; a row starts at a document start."""

    def __init__(self, documents: Sequence[TokenStream], name: str = "text"):
        if not documents:
            raise GatoEvalError("the text source has no documents")
        self.name = name
        self.stream = TokenStream.concatenate(documents)
        self._doc_starts = np.cumsum([0, *[len(d) for d in documents[:-1]]]).astype(np.int64)

    @property
    def num_tokens(self) -> int:
        return len(self.stream)

    def sample(self, rng: np.random.Generator, length: int) -> tuple[list[Segment], SequenceInfo]:
        document = int(rng.integers(len(self._doc_starts)))
        start = int(self._doc_starts[document])
        end = min(start + length, len(self.stream))
        info = SequenceInfo(source=self.name, item=document, start=start, end=end)
        return [Segment(self.stream, start, end)], info


class CaptionSource:
    """(image, caption) examples `first .. first + count - 1`, encoded when drawn.

    `encode(index)` returns the 1-row TokenBatch of example `index` (render + tokenize); a row
    packs consecutive examples from a uniformly drawn one, whole examples only.
    """

    def __init__(self, encode, first: int, count: int, name: str = "captions"):
        if count < 1:
            raise GatoEvalError("the caption source has no examples")
        self.name = name
        self._encode = encode
        self.first, self.count = first, count

    def sample(self, rng: np.random.Generator, length: int) -> tuple[list[Segment], SequenceInfo]:
        offset = int(rng.integers(self.count))
        segments: list[Segment] = []
        used = 0
        for step in range(self.count):
            index = self.first + (offset + step) % self.count
            stream = TokenStream.from_token_batch(self._encode(index))
            if used + len(stream) > length:
                break
            segments.append(Segment(stream, 0, len(stream)))
            used += len(stream)
        if not segments:
            raise GatoEvalError(f"one caption example is longer than the {length}-token context")
        info = SequenceInfo(source=self.name, item=self.first + offset, start=0, end=used)
        return segments, info


class SequenceSampler:
    """Batches of packed rows drawn from weighted sources, a pure function of (seed, step).

    sources: name -> EpisodeSource | TextSource | CaptionSource; weights: name -> probability
    (normalized here); stream: an integer that separates this sampler's draws from another's
    with the same seed (training 0, evaluation 1).
    """

    def __init__(
        self,
        sources: dict,
        weights: dict[str, float],
        context_length: int,
        seed: int,
        stream: int = 0,
        prompt_probability: float = PROMPT_PROBABILITY,
        prompt_fraction: float = DEFAULT_PROMPT_FRACTION,
    ):
        names = [name for name in sources if weights.get(name, 0.0) > 0]
        if not names:
            raise GatoEvalError("the sequence sampler has no source with a positive weight")
        if not 0.0 <= prompt_probability <= 1.0 or not 0.0 < prompt_fraction < 1.0:
            raise GatoEvalError("prompt_probability must be in [0, 1], prompt_fraction in (0, 1)")
        self.sources = {name: sources[name] for name in names}
        total = sum(weights[name] for name in names)
        self.names = names
        self.probabilities = np.array([weights[name] / total for name in names])
        self.context_length = int(context_length)
        self.seed, self.stream = int(seed), int(stream)
        self.prompt_probability = prompt_probability
        self.prompt_fraction = prompt_fraction

    def sample_batch(self, step: int, batch_size: int) -> tuple[TokenBatch, list[SequenceInfo]]:
        """Batch number `step`: B rows of `context_length` positions (right-padded)."""
        rng = np.random.default_rng([self.seed, self.stream, int(step)])
        picks = rng.choice(len(self.names), size=batch_size, p=self.probabilities)
        rows, infos = [], []
        for pick in picks:
            source = self.sources[self.names[int(pick)]]
            if isinstance(source, EpisodeSource):
                segments, info = source.sample(
                    rng, self.context_length, self.prompt_probability, self.prompt_fraction
                )
            else:
                segments, info = source.sample(rng, self.context_length)
            rows.append(segments)
            infos.append(info)
        return assemble_rows(rows, self.context_length), infos


def assemble_rows(rows: Sequence[Sequence[Segment]], length: int) -> TokenBatch:
    """Join each row's segments, right-pad to `length`, and gather the patches in row order.

    Patches come out in row-major order of the image positions (the TokenBatch contract) and as
    the tokenizer's exact float32 values.
    """
    batch_size = len(rows)
    token_ids = np.zeros((batch_size, length), np.int64)
    local_positions = np.zeros((batch_size, length), np.int64)
    is_image = np.zeros((batch_size, length), bool)
    loss_mask = np.zeros((batch_size, length), bool)
    valid = np.zeros((batch_size, length), bool)
    timestep_start = np.zeros((batch_size, length), bool)
    patches, row_iv, col_iv = [], [], []
    for b, segments in enumerate(rows):
        at = 0
        for seg in segments:
            s, e, stream = seg.start, seg.end, seg.stream
            end = at + (e - s)
            if end > length:
                raise ValueError(f"row {b} holds {end} positions, more than {length}")
            token_ids[b, at:end] = stream.token_ids[s:e]
            local_positions[b, at:end] = stream.local_positions[s:e]
            is_image[b, at:end] = stream.is_image[s:e]
            loss_mask[b, at:end] = stream.loss_mask[s:e] & seg.loss
            timestep_start[b, at:end] = stream.timestep_start[s:e]
            valid[b, at:end] = True
            p0, p1 = stream.patches_before[s], stream.patches_before[e]
            if p1 > p0:
                patches.append(stream.patches[p0:p1])
                row_iv.append(stream.patch_row_interval[p0:p1])
                col_iv.append(stream.patch_col_interval[p0:p1])
            at = end
    if patches:
        pixels = np.concatenate(patches)  # uint8 (N, 3, 16, 16)
        # The tokenizer's own normalization, applied to each patch as a 16x16 image.
        floats = images_to_patches(pixels.transpose(0, 2, 3, 1))[:, 0]  # (N, 3, 16, 16)
        rows_iv, cols_iv = np.concatenate(row_iv), np.concatenate(col_iv)
    else:
        floats = np.zeros((0, 3, PATCH_SIZE, PATCH_SIZE), np.float32)
        rows_iv = cols_iv = np.zeros((0, 2), np.int64)
    return TokenBatch(
        token_ids=token_ids,
        local_positions=local_positions,
        is_image=is_image,
        loss_mask=loss_mask,
        valid=valid,
        timestep_start=timestep_start,
        patches=floats,
        patch_row_interval=rows_iv,
        patch_col_interval=cols_iv,
    )
