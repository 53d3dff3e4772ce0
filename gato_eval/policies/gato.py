"""`GatoPolicy`: a Gato model behind the batched policy contract.

Per task it builds the task's `TimestepTokenizer` and one `KVCacheDecoder` row per env slot.
Each control step, for the B active slots at once:

    prompts      slots that just started an episode get their prompt appended (one batched call)
    observe      encode_observations -> TokenBatch (B rows: observation tokens + separator)
    decode       decode_action_tokens: one token at a time, masked to the valid id range of the
                 action token being decoded (GATO.md section 3), greedy or with temperature
    act          decode_actions -> actions inside the env's action space

`reset(slot, seed)` clears the slot's cache row and reseeds its sampler with the episode seed,
so sampled actions (temperature > 0) depend on the episode, not on the slot or the batch. The
prompt (see `gato_eval.policies.prompting`) is a successful demonstration of the same task,
chosen by the episode seed, never one recorded from the episode's own reset seed; the live
episode follows it in the same context, and the decoder's sliding window drops the oldest whole
timesteps (the prompt first) once the context is full.

The model's weights never hold rollout state: caches, prompts and tokenizers live here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.paths import portable_path
from gato_eval.core.policy import BatchedObservation
from gato_eval.core.task_spec import TaskSpec
from gato_eval.policies.prompting import (
    choose_demonstration,
    default_prompt_tokens,
    demonstration_seeds,
    load_prompt_demonstrations,
    prompt_generator,
)
from gato_eval.run.settings import PromptSettings, SamplingSettings
from gato_eval.tokenizer.prompt_window import prompt_window


class GatoPolicy:
    """A loaded Gato model + prompt strategy + sampling, over the env slots of one task.

    model: an eval-mode `GatoModel`; text: its `TextTokenizer` (None for models without text);
    prompt: `first`, `end`, `uniform` or `none`; prompt_tokens: prompt length (default half the
    context); temperature: 0 = greedy; demonstrations: task id -> the successful demonstrations
    to prompt with, a sequence of episodes (default: `load_prompt_demonstrations` from
    `prompt_source`: auto, bundled or local); window: the decoder's sliding-window mode.
    These settings are checked by `PromptSettings` and `SamplingSettings`
    (`gato_eval.run.settings`), which `from_checkpoint` takes whole.
    """

    def __init__(
        self,
        model,
        text=None,
        *,
        prompt: str = "first",
        prompt_tokens: int | None = None,
        temperature: float = 0.0,
        demonstrations=None,
        prompt_source: str = "auto",
        window: str = "recompute",
        checkpoint: Path | None = None,
        checkpoint_sha256: str | None = None,
    ):
        PromptSettings(prompt, prompt_tokens, prompt_source)  # refuses bad values
        SamplingSettings(temperature, window)
        self.model = model
        self.config = model.config
        self.text = text
        self.prompt = prompt
        context = self.config.context_length
        self.prompt_tokens = (
            default_prompt_tokens(context) if prompt_tokens is None else int(prompt_tokens)
        )
        if not 0 <= self.prompt_tokens < context:
            raise GatoEvalError(
                f"--prompt-tokens must be in [0, {context - 1}] for a model with a context of "
                f"{context} tokens (room must remain for the live episode), "
                f"got {self.prompt_tokens}"
            )
        self.temperature = float(temperature)
        self.window = window
        # A caller's own demonstrations have no named source.
        self.prompt_source = None if demonstrations else prompt_source
        self.demonstrations = demonstrations or functools.partial(
            load_prompt_demonstrations, source=prompt_source
        )
        self.checkpoint = checkpoint
        self.checkpoint_sha256 = checkpoint_sha256
        self._task: TaskSpec | None = None
        self._demonstration_cache: dict[str, Sequence] = {}

    @classmethod
    def from_checkpoint(
        cls,
        path: Path,
        *,
        device: str = "auto",
        prompt: PromptSettings | None = None,
        sampling: SamplingSettings | None = None,
    ) -> GatoPolicy:
        """Load a checkpoint directory onto `device` (see `gato_eval.model.checkpoint`), prompted
        and sampling as `prompt` and `sampling` say (None: their defaults)."""
        prompt, sampling = prompt or PromptSettings(), sampling or SamplingSettings()
        from gato_eval.model import checkpoint_hash, load_checkpoint
        from gato_eval.tokenizer.text import TextTokenizer

        path = Path(path)
        model, _, tokenizer_path = load_checkpoint(path, device=device)
        text = TextTokenizer.load(tokenizer_path) if tokenizer_path is not None else None
        return cls(
            model,
            text,
            prompt=prompt.strategy,
            prompt_tokens=prompt.tokens,
            temperature=sampling.temperature,
            window=sampling.window,
            prompt_source=prompt.source,
            checkpoint=path,  # as given: portable_path records it without this machine's dirs
            checkpoint_sha256=checkpoint_hash(path),
        )

    def describe(self) -> dict[str, Any]:
        """The `policy` block of run metadata."""
        return {
            "kind": "gato",
            "name": self.config.name,
            "checkpoint": portable_path(self.checkpoint) if self.checkpoint is not None else None,
            "checkpoint_sha256": self.checkpoint_sha256,
            "model_config": self.config.to_dict(),
            "prompt": self._prompt_description(),
            "sampling": {
                **SamplingSettings(self.temperature, self.window).to_dict(),
                "masked": True,
                "device": str(next(self.model.parameters()).device),
            },
        }

    def _prompt_description(self) -> dict[str, Any]:
        # A caller's own demonstrations (no named source) are recorded as "auto" ones were. The
        # tokens recorded are the resolved length, bounded by the model's context only.
        source = self.prompt_source or "auto"
        return PromptSettings(self.prompt, source=source).to_dict() | {"tokens": self.prompt_tokens}

    def prepare(self, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        """Find every task's prompt demonstrations before a run writes anything.

        A task without any is a one-line error naming all such tasks. Returns
        {"prompt_sources": {task id: where its prompts come from}} for the run's metadata.
        """
        if self.prompt == "none" or self.prompt_tokens == 0:
            return {}
        sources, missing = {}, []
        for task in tasks:
            demos = self._demonstrations_of(task.task_id)
            if len(demos) == 0:
                missing.append(task.task_id)
            else:
                demos[0]  # read (and checked) now: a broken data set fails before any write
            info = getattr(demos, "info", None)
            sources[task.task_id] = {
                "candidates": len(demos),
                "dataset": None if info is None else info.name,
                "path": None if info is None else portable_path(info.path),
                "sha256": None if info is None else info.sha256,
            }
        if missing:
            raise GatoEvalError(
                f"no successful demonstration to prompt with for {', '.join(missing)}: collect "
                "some with `gato-eval data collect --task TASK` or run with --prompt none"
            )
        return {"prompt_sources": sources}

    def _demonstrations_of(self, task_id: str) -> Sequence:
        if task_id not in self._demonstration_cache:
            self._demonstration_cache[task_id] = self.demonstrations(task_id)
        return self._demonstration_cache[task_id]

    # -- the Policy contract --------------------------------------------------------------------

    def start(self, task: TaskSpec, envs: Sequence[Any]) -> None:
        from gato_eval.model import KVCacheDecoder
        from gato_eval.tokenizer.timestep import TimestepTokenizer

        env = next((env for env in envs if env is not None), None)
        if env is None:
            raise GatoEvalError(f"{task.task_id}: no environment to read the spaces from")
        self._task = task
        self.tokenizer = TimestepTokenizer.for_env(env, self.config.layout, self.text)
        self.ranges = [
            self.tokenizer.action_token_range(k) for k in range(self.tokenizer.action_token_count)
        ]
        self.decoder = KVCacheDecoder(self.model, num_rows=len(envs), window=self.window)
        self._pending_prompts: dict[int, Any] = {}
        self._prompt_cache: dict[int, Any] = {}
        self._candidates: Sequence = []
        self._candidate_seeds: list[int | None] = []
        if self.prompt != "none" and self.prompt_tokens > 0:
            self._candidates = self._demonstrations_of(task.task_id)
            self._candidate_seeds = demonstration_seeds(self._candidates)
            if len(self._candidates) == 0:
                raise GatoEvalError(
                    f"{task.task_id}: no successful demonstration to prompt with; collect "
                    f"some with `gato-eval data collect --task {task.task_id}` or run with "
                    "--prompt none"
                )

    def reset(self, env_index: int, seed: int) -> None:
        self.decoder.reset_rows([env_index], [seed])
        self._pending_prompts.pop(env_index, None)
        if self._candidates:
            prompt = self._prompt_for(seed)
            if prompt is not None:
                self._pending_prompts[env_index] = prompt

    def act(self, observations: BatchedObservation, env_indices: np.ndarray) -> np.ndarray:
        """int64 (B,) or float32 (B, a) actions for the slots `env_indices`."""
        from gato_eval.tokenizer.batch import stack_rows

        rows = np.asarray(env_indices, dtype=np.int64)
        waiting = [int(r) for r in rows if int(r) in self._pending_prompts]
        if waiting:
            prompts = [self._pending_prompts.pop(r) for r in waiting]
            self.decoder.append(waiting, stack_rows(prompts), logits=False)
        self.decoder.append(rows, self.tokenizer.encode_observations(observations), logits=False)
        ids = self.decoder.decode_action_tokens(rows, self.ranges, self.temperature)
        return self.tokenizer.decode_actions(ids)

    def close(self) -> None:
        self.decoder = None
        self._pending_prompts = {}
        self._prompt_cache = {}

    # -- prompts --------------------------------------------------------------------------------

    def _prompt_for(self, seed: int):
        """The 1-row TokenBatch this episode is prompted with (None if nothing fits).

        Only the prompt's timesteps are tokenized: the window is found from per-timestep token
        counts. `first` and `end` windows of a demonstration never change, so they are cached.
        """
        rng = prompt_generator(seed)
        index = choose_demonstration(self._candidate_seeds, seed, rng)
        if index in self._prompt_cache:
            return self._prompt_cache[index]
        demo = self._candidates[index]
        counts = self._timestep_token_counts(demo)  # (T,)
        offsets = np.concatenate([[0], np.cumsum(counts)])  # (T + 1,) timestep starts, total
        starts = np.zeros(int(offsets[-1]), dtype=bool)
        starts[offsets[:-1]] = True
        start, end = prompt_window(starts, self.prompt, self.prompt_tokens, rng)
        prompt = None
        if end > start:
            first, last = np.searchsorted(offsets, [start, end])  # timesteps [first, last)
            observations = {key: value[first:last] for key, value in demo.observations.items()}
            prompt = self.tokenizer.encode_episode(
                observations, demo.actions[first:last], loss_on_actions=False
            )
        if self.prompt != "uniform":
            self._prompt_cache[index] = prompt
        return prompt

    def _timestep_token_counts(self, demo) -> np.ndarray:
        """int64 (T,): positions each timestep of `demo` takes (text length may vary)."""
        steps = len(demo.actions)
        texts = demo.observations.get("text")
        if texts is None:
            return np.full(steps, self.tokenizer.tokens_per_timestep(), dtype=np.int64)
        lengths = {text: self.tokenizer.count_text_tokens(text) for text in set(texts[:steps])}
        return np.array(
            [self.tokenizer.tokens_per_timestep(lengths[text]) for text in texts[:steps]],
            dtype=np.int64,
        )
