"""`KVCacheDecoder`: incremental decoding for many environment rows with one model.

Each row (an environment slot) owns a key/value cache of up to `context` positions. The rollout's
Gato policy calls, per control step:

    decoder.reset_rows(rows, seeds)                    # new episodes: forget those rows
    decoder.append(rows, prompt_batch)                  # once per episode: the prompt
    decoder.append(rows, observation_batch)             # observation tokens + separator
    ids = decoder.decode_action_tokens(rows, ranges, temperature)   # (R, n) action ids

A decoded action's last token enters the cache with the row's next `append`, in the same forward
pass as the next observation (nothing reads its hidden state before that): one pass per control
step fewer, the same result. `reset_rows` discards it.

Rows are ragged: each has its own length, padded positions of a TokenBatch never enter a cache,
and rows not named in a call are untouched.

Sliding window. When a row would exceed `context`, its oldest whole timesteps are dropped (cuts
fall only where `timestep_start` was True, never inside the current timestep). With more than
one layer, keeping the surviving tokens' cached keys/values is NOT the same as a fresh pass over
the kept window: their hidden states in layers >= 2 attended to the dropped tokens. Two modes:

- `window="recompute"` (default, exact): drop enough old timesteps to free `recompute_chunk`
  positions (a quarter of the context by default), then re-prefill the kept window once from the
  stored input embeddings. The logits equal a full forward pass over the kept window; the
  re-prefill cost is amortized over the next chunk of tokens.
- `window="xl"`: Transformer-XL-style memory, as the paper deployed Gato (App. C.2): drop just
  enough old timesteps and keep the surviving keys/values without recomputing. Cheaper and
  smoother, exact only for a one-layer model. A drop moves the row's ring head, nothing else
  (see gato_eval.model.cache_step).

Sampling draws Gumbel noise from one generator per row, seeded by `reset_rows`, so a row's samples
never depend on which other rows share the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from gato_eval.core.errors import GatoEvalError, check_choice
from gato_eval.model.cache_step import CacheStep
from gato_eval.model.device import autocast_for
from gato_eval.model.transformer import GatoModel
from gato_eval.model.window_cuts import choose_cut, current_timestep_lengths
from gato_eval.run.settings import WINDOWS
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, PATCH_SIZE, TokenBatch

WINDOW_MODES = WINDOWS  # the choices of SamplingSettings.window, defined once in run.settings


class KVCacheDecoder:
    """Per-row key/value caches over one eval-mode `GatoModel` (see the module docstring).

    num_rows: environment slots; context: positions per row (default the model's context
    length); window: "recompute" or "xl"; recompute_chunk: positions freed per recompute slide
    (default context // 4); cache_dtype: default bfloat16 on CUDA (with bf16 autocast), else the
    model's parameter dtype.
    """

    def __init__(
        self,
        model: GatoModel,
        num_rows: int,
        context: int | None = None,
        window: str = "recompute",
        recompute_chunk: int | None = None,
        cache_dtype: torch.dtype | None = None,
    ):
        if model.training:
            raise ValueError("KVCacheDecoder needs an eval-mode model: call model.eval() first")
        check_choice(window, WINDOW_MODES, "window mode")
        config = model.config
        self.model = model
        self.num_rows = int(num_rows)
        self.context = int(context or config.context_length)
        self.window = window
        self.recompute_chunk = int(recompute_chunk or max(1, self.context // 4))
        if self.num_rows < 1 or self.context < 2:
            raise GatoEvalError("KVCacheDecoder needs num_rows >= 1 and context >= 2")
        if not 1 <= self.recompute_chunk <= self.context:
            raise GatoEvalError(f"recompute_chunk must be in [1, {self.context}]")
        parameter = next(model.parameters())
        self.device = parameter.device
        dtype = cache_dtype or (torch.bfloat16 if self.device.type == "cuda" else parameter.dtype)
        shape = (self.num_rows, config.num_heads, self.context, config.kv_size)
        try:
            self._keys = [torch.zeros(shape, dtype=dtype, device=self.device) for _ in model.blocks]
            self._values = [
                torch.zeros(shape, dtype=dtype, device=self.device) for _ in model.blocks
            ]
            # Input embeddings of cached positions: what a recompute slide re-prefills from.
            self._inputs = (
                torch.zeros(self.num_rows, self.context, config.width, device=self.device)
                if window == "recompute"
                else None
            )
        except RuntimeError as err:  # torch's allocators (CPU and CUDA OOM) raise RuntimeErrors
            size = 2 * len(model.blocks) * math.prod(shape) * dtype.itemsize / 2**30
            raise GatoEvalError(
                f"cannot allocate the key/value caches for {self.num_rows} rows x {self.context} "
                f"positions (about {size:,.1f} GiB) on {self.device}: use fewer --envs or a "
                f"model with a shorter context_length ({type(err).__name__})"
            ) from None
        self._timestep_start = np.zeros((self.num_rows, self.context), dtype=bool)
        self._lengths = np.zeros(self.num_rows, dtype=np.int64)
        self._heads = np.zeros(self.num_rows, dtype=np.int64)  # ring slot of logical position 0
        self._dropped = np.zeros(self.num_rows, dtype=np.int64)
        # Final hidden state at each row's last position: logits are computed from it on demand.
        self._last_hidden = torch.zeros(self.num_rows, config.width, device=self.device)
        self._has_hidden = np.zeros(self.num_rows, dtype=bool)
        # The last decoded action token of each row, until its next append (see module doc).
        self._waiting = np.zeros(self.num_rows, dtype=bool)
        self._waiting_ids = torch.zeros(self.num_rows, dtype=torch.long, device=self.device)
        self._generators = [torch.Generator().manual_seed(row) for row in range(self.num_rows)]

    # ---- state -------------------------------------------------------------------------------

    @property
    def lengths(self) -> np.ndarray:
        """int64 (num_rows,): cached positions per row (an action's last token is counted once
        the next append has brought it in)."""
        return self._lengths.copy()

    @property
    def dropped(self) -> np.ndarray:
        """int64 (num_rows,): positions each row's sliding window has dropped since its reset.

        Row r's cache holds positions dropped[r] .. dropped[r] + lengths[r] of everything
        appended to it since `reset_rows`.
        """
        return self._dropped.copy()

    def reset_rows(self, rows: Sequence[int], seeds: Sequence[int] | None = None) -> None:
        """Forget `rows` (new episodes) and reseed their samplers (default seed: the row index)."""
        rows = self._check_rows(rows)
        if seeds is not None and len(seeds) != len(rows):
            raise ValueError(f"{len(seeds)} seeds for {len(rows)} rows")
        self._lengths[rows] = 0
        self._heads[rows] = 0
        self._dropped[rows] = 0
        self._has_hidden[rows] = False
        self._waiting[rows] = False
        self._timestep_start[rows] = False
        for i, row in enumerate(rows):
            seed = int(row) if seeds is None else int(seeds[i])
            self._generators[row].manual_seed(seed)

    # ---- appending tokens --------------------------------------------------------------------

    @torch.inference_mode()
    def append(
        self, rows: Sequence[int], batch: TokenBatch, *, logits: bool = True
    ) -> torch.Tensor | None:
        """Append batch row i to cache row rows[i]; return float32 logits (R, vocab) at each
        row's last valid position (a row with no valid tokens returns its previous logits).

        batch: a right-padded TokenBatch with R rows (a prompt, or an observation + separator).
        logits=False returns None and skips the full-vocabulary head: a caller that goes on to
        `decode_action_tokens` only needs the action ranges, which that computes itself.
        """
        rows = self._check_rows(rows)
        if batch.shape[0] != len(rows):
            raise ValueError(f"TokenBatch has {batch.shape[0]} rows for {len(rows)} cache rows")
        batch.check()  # shapes, dtypes, right padding, one patch per image position
        n_valid = batch.valid.sum(axis=1).astype(np.int64)
        with autocast_for(self.device):
            x = self.model.embed(batch.to_torch(self.device)).float()  # (R, T, width)
            x, n_valid, starts = self._bring_in_waiting_actions(
                rows, x, n_valid, batch.timestep_start
            )
            self._extend(rows, x, n_valid, starts)
            return self._row_logits(rows) if logits else None

    @torch.inference_mode()
    def decode_action_tokens(
        self,
        rows: Sequence[int],
        ranges: Sequence[tuple[int, int]],
        temperature: float = 0.0,
    ) -> np.ndarray:
        """Sample len(ranges) action tokens per row, one at a time, each inside its id range.

        ranges[k] = (lo, hi): token k is drawn from ids [lo, hi) only (GATO.md section 3).
        temperature 0 is greedy (argmax); otherwise softmax(logits / temperature) sampling with
        each row's own generator. Each sampled token is appended (local position
        ACTION_LOCAL_POSITION) before the next is drawn; the last one waits for the row's next
        `append` (module doc), so a row must see an append before its next decode. Returns
        int64 (R, len(ranges)).
        """
        rows = self._check_rows(rows)
        if not np.all(self._has_hidden[rows]):
            raise ValueError("append an observation to every row before decoding its action")
        if not (np.isfinite(temperature) and temperature >= 0):
            raise GatoEvalError(f"temperature must be a finite number >= 0, got {temperature}")
        vocab = self.model.config.vocab_size
        for lo, hi in ranges:
            if not 0 <= lo < hi <= vocab:
                raise ValueError(f"action id range [{lo}, {hi}) is outside the vocabulary {vocab}")
        if len(ranges) == 0:
            return np.zeros((len(rows), 0), dtype=np.int64)
        chosen = []
        rows_t = torch.from_numpy(rows).to(self.device)
        with autocast_for(self.device):
            for lo, hi in ranges:
                logits = self.model.logits(self._last_hidden[rows_t], (lo, hi)).float()  # (R, n)
                if temperature > 0:
                    logits = logits / temperature + self._gumbel_noise(rows, hi - lo)
                choice = logits.argmax(dim=-1) + lo  # (R,), stays on the device: no sync
                chosen.append(choice)
                if len(chosen) == len(ranges):
                    break  # the last token waits for the next append
                x = self._embed_action_tokens(choice)  # (R, 1, width)
                ones = np.ones(len(rows), dtype=np.int64)
                self._extend(rows, x, ones, np.zeros((len(rows), 1), dtype=bool))
        self._waiting_ids[rows_t] = chosen[-1]
        self._waiting[rows] = True
        self._has_hidden[rows] = False  # the last hidden state is before the waiting token
        return torch.stack(chosen, dim=1).cpu().numpy()  # (R, n)

    # ---- internals ---------------------------------------------------------------------------

    def _check_rows(self, rows: Sequence[int]) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size == 0:
            raise ValueError("no rows given")
        if rows.min() < 0 or rows.max() >= self.num_rows:
            raise ValueError(f"rows must be in [0, {self.num_rows}), got {rows.tolist()}")
        if len(np.unique(rows)) != len(rows):
            raise ValueError(f"rows must be distinct, got {rows.tolist()}")
        return rows

    def _row_logits(self, rows: np.ndarray) -> torch.Tensor:
        rows_t = torch.from_numpy(rows).to(self.device)
        return self.model.logits(self._last_hidden[rows_t]).float()  # (R, vocab)

    def _embed_action_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """int64 (R,) action ids -> input embeddings (R, 1, width)."""
        R = ids.shape[0]
        batch = {
            "token_ids": ids.view(R, 1),
            "local_positions": torch.full((R, 1), ACTION_LOCAL_POSITION, device=self.device),
            "is_image": torch.zeros((R, 1), dtype=torch.bool, device=self.device),
            "patches": torch.zeros((0, 3, PATCH_SIZE, PATCH_SIZE), device=self.device),
            "patch_row_interval": torch.zeros((0, 2), dtype=torch.long, device=self.device),
            "patch_col_interval": torch.zeros((0, 2), dtype=torch.long, device=self.device),
        }
        return self.model.embed(batch).float()

    def _bring_in_waiting_actions(
        self, rows: np.ndarray, x: torch.Tensor, n_valid: np.ndarray, timestep_start: np.ndarray
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Put each waiting action token in front of its row's new tokens.

        x: (R, T, width) right-padded embeddings, n_valid (R,), timestep_start (R, T) ->
        (R, T or T + 1, width), n_valid + 1 where a token waited, and the shifted flags.

        A token that joined new tokens starting a timestep would keep its own timestep in the
        window; where that timestep plus the new tokens exceed the context, it enters alone
        first, so the new timestep may still drop all history (as without the waiting).
        """
        waiting = self._waiting[rows]  # (R,)
        if not waiting.any():
            return x, n_valid, timestep_start
        self._waiting[rows] = False
        # Only a row that must slide can be too tight; of those, the ones whose current
        # timestep cannot stay beside the new tokens.
        alone = waiting & (self._lengths[rows] + 1 + n_valid > self.context)  # (R,)
        if alone.any():
            tight = rows[alone]
            current = current_timestep_lengths(self._timestep_start[tight], self._lengths[tight])
            alone[alone] = current + 1 + n_valid[alone] > self.context
        if alone.any():
            count = int(alone.sum())
            ids = self._waiting_ids[torch.from_numpy(rows[alone]).to(self.device)]  # (A,)
            ones, no_start = np.ones(count, dtype=np.int64), np.zeros((count, 1), dtype=bool)
            self._extend(rows[alone], self._embed_action_tokens(ids), ones, no_start)
            waiting = waiting & ~alone
            if not waiting.any():
                return x, n_valid, timestep_start
        R, T, width = x.shape
        ids = self._waiting_ids[torch.from_numpy(rows[waiting]).to(self.device)]  # (P,)
        actions = self._embed_action_tokens(ids)  # (P, 1, width)
        flags = np.zeros((R, T + 1), dtype=bool)  # an action token never starts a timestep
        flags[waiting, 1:] = timestep_start[waiting, :T]
        flags[~waiting, :T] = timestep_start[~waiting, :T]
        if waiting.all():  # the rollout's usual case: every row just acted
            return torch.cat([actions, x], dim=1), n_valid + 1, flags
        shifted = x.new_zeros(R, T + 1, width)
        on = torch.from_numpy(waiting).to(self.device)
        shifted[on, :1] = actions
        shifted[on, 1:] = x[on]
        shifted[~on, :T] = x[~on]
        return shifted, n_valid + waiting, flags

    def _gumbel_noise(self, rows: np.ndarray, n: int) -> torch.Tensor:
        """float32 (R, n) Gumbel(0, 1) noise, row i from row rows[i]'s own generator."""
        uniform = torch.stack([torch.rand(n, generator=self._generators[r]) for r in rows])
        tiny = torch.finfo(torch.float32).tiny
        return (-torch.log(-torch.log(uniform.clamp(min=tiny)))).to(self.device)  # (R, n)

    def _extend(
        self, rows: np.ndarray, x: torch.Tensor, n_valid: np.ndarray, timestep_start: np.ndarray
    ) -> None:
        """Append embeddings x (R, T, width), n_valid[i] valid per row, sliding if needed."""
        keep = n_valid > 0
        if not keep.all():
            rows, n_valid, timestep_start = rows[keep], n_valid[keep], timestep_start[keep]
            x = x[torch.from_numpy(keep).to(self.device)]
            if rows.size == 0:
                return
        self._make_room(rows, n_valid, timestep_start[:, 0])
        self._run(rows, x, n_valid, timestep_start)

    def _run(
        self, rows: np.ndarray, x: torch.Tensor, n_valid: np.ndarray, timestep_start: np.ndarray
    ) -> None:
        """Push x (R, T, width) through the model into rows that have room for it."""
        R, T = x.shape[:2]
        starts = self._lengths[rows]
        step = CacheStep(self._keys, self._values, rows, self._heads[rows], starts, n_valid, T)
        if self._inputs is not None:
            step.write_inputs(self._inputs, x)
        steps = np.arange(T)
        valid = steps[None, :] < n_valid[:, None]  # (R, T)
        flat_pos = (starts[:, None] + steps[None, :])[valid]  # (N,) logical positions
        self._timestep_start[np.repeat(rows, n_valid), flat_pos] = timestep_start[:, :T][valid]
        hidden = self.model.transform(x, step)  # (R, T, width)
        last = torch.from_numpy(n_valid - 1).to(self.device)
        self._last_hidden[step.rows_t] = hidden[torch.arange(R, device=self.device), last].float()
        self._lengths[rows] = starts + n_valid
        self._has_hidden[rows] = True

    def _make_room(self, rows: np.ndarray, n_valid: np.ndarray, new_starts: np.ndarray) -> None:
        """Drop the oldest whole timesteps of every row that cannot take n_valid more tokens."""
        overflow = self._lengths[rows] + n_valid > self.context
        if not overflow.any():
            return
        slid, kept = [], []
        for row, n, starts_timestep in zip(
            rows[overflow], n_valid[overflow], new_starts[overflow], strict=True
        ):
            length = int(self._lengths[row])
            cut = choose_cut(
                self._timestep_start[row, :length],
                int(n),
                self.context,
                self.window,
                self.recompute_chunk,
                bool(starts_timestep),
            )
            self._timestep_start[row, : length - cut] = self._timestep_start[row, cut:length].copy()
            self._dropped[row] += cut
            if self.window == "xl":
                # The kept keys/values stay in their slots; the ring head moves past the dropped
                # ones. An emptied row starts again at slot 0 (a plain causal prefill).
                self._heads[row] = (self._heads[row] + cut) % self.context if cut < length else 0
                self._lengths[row] = length - cut
            else:
                slid.append(int(row))
                kept.append(self._inputs[row, cut:length].clone())  # (kept, width)
                self._lengths[row] = 0
        if slid:
            self._reprefill(np.array(slid, dtype=np.int64), kept)

    def _reprefill(self, rows: np.ndarray, kept: list[torch.Tensor]) -> None:
        """Recompute the caches of `rows` from their kept input embeddings (recompute mode)."""
        n_kept = np.array([len(k) for k in kept], dtype=np.int64)
        if not (n_kept > 0).any():
            return
        width = self.model.config.width
        x = torch.zeros(len(rows), int(n_kept.max()), width, device=self.device)  # (R, T, width)
        for i, k in enumerate(kept):
            x[i, : len(k)] = k
        flags = np.zeros(x.shape[:2], dtype=bool)
        for i, row in enumerate(rows):
            flags[i, : n_kept[i]] = self._timestep_start[row, : n_kept[i]]
        nonempty = n_kept > 0
        self._run(
            rows[nonempty],
            x[torch.from_numpy(nonempty).to(self.device)],
            n_kept[nonempty],
            flags[nonempty],
        )
