"""`CacheStep`: where one decoder call's new tokens go in the key/value caches, and what they see.

Each cache row is a ring of `context` slots. Logical position p of a row (0 = its oldest kept
token) lives in slot (head + p) % context. A row's head is 0 until a Transformer-XL slide drops
its oldest tokens: the slide then only advances the head, instead of moving every kept key and
value of every layer forward (at 16 rows x 512 positions that copy was ~33 MB per control step).
The exact `recompute` window re-prefills from slot 0, so its heads stay 0.

Attention needs no order among keys (there is no global position encoding, and softmax sums over
keys), only the right set: query j of row r may see the row's logical positions
0 .. starts[r] + j. Slots outside the live ring (never written, or dropped) have logical
positions >= the row's length, so one comparison on logical positions masks both.

With an ALiBi bias (gato_eval.model.alibi) attention also needs each visible key's distance from
the query, which is a difference of logical positions: a slide moves both ends alike, so the
bias of a kept key never changes (`alibi_bias`).

Two write paths give the same caches: lockstep calls (contiguous rows, equal heads and lengths,
no padding: a rollout whose envs started together) write through slices and share one (T, S)
mask across rows; any other call scatters position by position with a per-row mask.
"""

from __future__ import annotations

import numpy as np
import torch

from gato_eval.model.alibi import distance_bias


class CacheStep:
    """One call's view of the caches (implements `gato_eval.model.transformer.LayerCache`).

    keys, values: the per-layer caches, each (rows, H, context, K): `context` slots per row;
    rows: int64 (R,) cache rows; heads: int64 (R,) their ring heads; starts: int64 (R,) their
    logical lengths before the call; n_valid: int64 (R,) new valid tokens per row (>= 1); T:
    padded number of new tokens.
    """

    def __init__(
        self,
        keys: list[torch.Tensor],
        values: list[torch.Tensor],
        rows: np.ndarray,
        heads: np.ndarray,
        starts: np.ndarray,
        n_valid: np.ndarray,
        T: int,
    ):
        self.keys, self.values = keys, values
        device, context = keys[0].device, keys[0].shape[2]
        self._heads, self._starts, self._n_valid, self._context = heads, starts, n_valid, context
        self._bias: torch.Tensor | None = None  # the ALiBi mask, built by the first layer
        self.T = T
        steps = np.arange(T)
        ends = starts + n_valid  # (R,) logical lengths after the call
        slots = (heads[:, None] + starts[:, None] + steps[None, :]) % context  # (R, T)
        # S: the slots any query of this call may need (all of them once a live ring wraps).
        self.span = int(context if np.any(heads + ends > context) else (heads + ends).max())
        first = int(rows[0])
        contiguous = np.array_equal(rows, np.arange(first, first + len(rows)))
        self.row_slice = slice(first, first + len(rows)) if contiguous else None
        self.rows_t = torch.from_numpy(rows).to(device)
        unpadded = bool(np.all(n_valid == T))
        lockstep = (
            contiguous
            and unpadded
            and bool(np.all(starts == starts[0]) and np.all(heads == heads[0]))
        )
        self._lockstep = lockstep
        if lockstep:  # rows [first, first + R) get the same slots
            slot = int(slots[0, 0])
            self.lockstep_positions: slice | torch.Tensor | None = (
                slice(slot, slot + T)
                if slot + T <= context
                else torch.from_numpy(slots[0]).to(device)
            )
        else:  # scatter: (row, slot) of every valid new token
            self.lockstep_positions = None
            valid = steps[None, :] < n_valid[:, None]  # (R, T)
            self.valid = torch.from_numpy(valid).to(device)
            self.row_index = torch.from_numpy(np.repeat(rows, n_valid)).to(device)  # (N,)
            self.pos_index = torch.from_numpy(slots[valid]).to(device)  # (N,)
        # A prefill of equal rows into empty caches is plain causal attention (the fast kernel);
        # an emptied row's head is 0 (see KVCacheDecoder._make_room), so its slots are 0..T-1.
        self.is_causal = bool(T > 1 and np.all(starts == 0) and unpadded)
        # Live slots fill [0, S) for every row: one new token per row then sees every key.
        covered = np.where(heads == 0, ends == self.span, ends == context)  # (R,)
        if self.is_causal or (T == 1 and covered.all()):
            self.mask = None
        elif lockstep:
            # Query j of every row sees logical positions 0..start + j: one mask for all rows.
            logical = (np.arange(self.span) - heads[0]) % context  # (S,)
            mask = logical[None, :] <= int(starts[0]) + steps[:, None]  # (T, S)
            self.mask = torch.from_numpy(mask)[None, None].to(device)  # (1, 1, T, S)
        else:
            # Query j of row r sees logical positions 0..starts[r] + j; padded queries see the
            # row's last valid key (their outputs are discarded, but a fully masked row would
            # give NaNs).
            logical = (np.arange(self.span)[None, :] - heads[:, None]) % context  # (R, S)
            limit = starts[:, None] + np.minimum(steps[None, :], n_valid[:, None] - 1)  # (R, T)
            mask = logical[:, None, :] <= limit[:, :, None]  # (R, T, S)
            self.mask = torch.from_numpy(mask).unsqueeze(1).to(device)  # (R, 1, T, S)

    def alibi_bias(self, slopes: list[float]) -> torch.Tensor:
        """The float attention mask of this call under ALiBi: (1 or R, H, T, S), -slope_h *
        (query - key logical position) where the key is visible, -inf elsewhere.

        Same visibility as `mask` (query j of row r sees logical positions up to starts[r] + j;
        a padded query sees up to its row's last valid key). Built once, shared by all layers.
        """
        if self._bias is None:
            rows = slice(0, 1) if self._lockstep else slice(None)  # lockstep rows are alike
            heads, starts, n_valid = self._heads[rows], self._starts[rows], self._n_valid[rows]
            steps = np.arange(self.T)
            logical = (np.arange(self.span)[None, :] - heads[:, None]) % self._context  # (R, S)
            query = starts[:, None] + np.minimum(steps[None, :], n_valid[:, None] - 1)  # (R, T)
            distance = torch.from_numpy(query[:, :, None] - logical[:, None, :])  # (R, T, S)
            distance = distance.to(self.keys[0].device)
            self._bias = distance_bias(slopes, distance, distance >= 0)  # (R, H, T, S)
        return self._bias

    def write(self, cache: torch.Tensor, new: torch.Tensor) -> None:
        """Store the valid new positions of `new` (R, H, T, K) into `cache` (rows, H, C, K)."""
        if self.lockstep_positions is not None:
            cache[self.row_slice, :, self.lockstep_positions] = new.to(cache.dtype)
            return
        # (R, H, T, K) -> (R, T, H, K) -> (N, H, K): only valid positions enter the cache.
        cache[self.row_index, :, self.pos_index] = new.transpose(1, 2)[self.valid].to(cache.dtype)

    def write_inputs(self, inputs: torch.Tensor, x: torch.Tensor) -> None:
        """Store the valid input embeddings of `x` (R, T, width) into `inputs` (rows, C, width)."""
        if self.lockstep_positions is not None:
            inputs[self.row_slice, self.lockstep_positions] = x
        else:
            inputs[self.row_index, self.pos_index] = x[self.valid]  # (N, width)

    def extend(self, layer: int, keys: torch.Tensor, values: torch.Tensor):
        """Write the valid new keys/values (R, H, T, K) of `layer`; return the (R, H, S, K) keys
        and values the queries may attend to, and the mask (None, (1, 1, T, S) or (R, 1, T, S))."""
        cache_k, cache_v = self.keys[layer], self.values[layer]
        self.write(cache_k, keys)
        self.write(cache_v, values)
        if self.row_slice is not None:
            return (
                cache_k[self.row_slice, :, : self.span],
                cache_v[self.row_slice, :, : self.span],
                self.mask,
            )
        k = cache_k[:, :, : self.span].index_select(0, self.rows_t)  # (R, H, S, K)
        v = cache_v[:, :, : self.span].index_select(0, self.rows_t)  # (R, H, S, K)
        return k, v, self.mask
