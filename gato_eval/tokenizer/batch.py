"""`TokenBatch`: the flat token sequences the tokenizer emits and the model consumes.

A Gato sequence interleaves token ids and image patches (GATO.md section 1). Each position is
either a token (text, discrete, continuous, separator or action id in the `TokenLayout`) or an
image patch; patches are stored once, densely, in the order of `is_image.nonzero()` (row-major
over (B, L)), so a batch with no images carries no image memory.

Shapes: B rows, L positions per row (right-padded), N patches in the whole batch.

Rows are joined, cut and padded only through `concat_rows`, `TokenBatch.window`,
`TokenBatch.row` and `stack_rows`, which keep the patches in step with the image positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from gato_eval.core.errors import GatoEvalError

PATCH_SIZE = 16  # pixels per patch side (Sec. 2.1)
PATCH_POSITION_BUCKETS = 128  # row/column patch position quantization (App. C.3)
LOCAL_POSITIONS = 512  # learnable local observation positions (App. C.2)
# Every action token shares this one extra position; so do the text tokens of text-only data and
# of image captions, which belong to no observation (the paper adds no local position to them).
ACTION_LOCAL_POSITION = LOCAL_POSITIONS


@dataclass
class TokenBatch:
    """A right-padded batch of token sequences.

    token_ids:          int64 (B, L)  layout ids; 0 at image positions and padding
    local_positions:    int64 (B, L)  index of the token inside its timestep's observation
                                      (0..511); ACTION_LOCAL_POSITION for action tokens and text
                                      outside observations; the separator takes the position after
                                      the last observation token
    is_image:           bool  (B, L)  True where the position is an image patch
    loss_mask:          bool  (B, L)  True where the position is a prediction target (action
                                      tokens; text tokens of text-only data)
    valid:              bool  (B, L)  False on padding
    timestep_start:     bool  (B, L)  True at the first position of each timestep (a prompt or a
                                      context window may be cut only there); text-only data may be
                                      cut anywhere, so it is True at each of its tokens
    patches:            float32 (N, 3, 16, 16)  pixels in [-1, 1] divided by 4
    patch_row_interval: int64 (N, 2)  [lo, hi) of the patch's rows in 128 buckets
    patch_col_interval: int64 (N, 2)  [lo, hi) of the patch's columns in 128 buckets
    """

    token_ids: np.ndarray
    local_positions: np.ndarray
    is_image: np.ndarray
    loss_mask: np.ndarray
    valid: np.ndarray
    timestep_start: np.ndarray
    patches: np.ndarray
    patch_row_interval: np.ndarray
    patch_col_interval: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.token_ids.shape

    def to_torch(self, device="cpu") -> dict:
        """The same fields as torch tensors on `device` (a dict keyed by field name)."""
        import torch

        return {f.name: torch.from_numpy(getattr(self, f.name)).to(device) for f in fields(self)}

    @property
    def num_rows(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """int64 (B,): the number of valid (non-padding) positions of each row."""
        return self.valid.sum(axis=1, dtype=np.int64)

    def row(self, index: int) -> TokenBatch:
        """Row `index` alone, without its padding: a 1-row batch."""
        if not -self.num_rows <= index < self.num_rows:
            raise IndexError(f"row {index} of a {self.num_rows}-row TokenBatch")
        index %= self.num_rows
        offsets = _patch_offsets(self)
        length = int(self.lengths[index])
        per_position = {
            name: getattr(self, name)[index : index + 1, :length] for name in _PER_POSITION
        }
        patches = slice(offsets[index], offsets[index + 1])
        return _with_patches(per_position, self, patches)

    def timestep_starts(self) -> np.ndarray:
        """int64 (k,): positions of a 1-row batch where a timestep begins (cut points)."""
        self._require_one_row("timestep_starts")
        return np.flatnonzero(self.timestep_start[0] & self.valid[0])

    def window(self, start: int, length: int, *, whole_timesteps: bool = True) -> TokenBatch:
        """Positions [start, start + length) of a 1-row batch, cut at timestep boundaries.

        `start` must be a timestep start. With `whole_timesteps` (the default, for prompts) the
        window ends where a timestep ends, so it may be shorter than `length`; without it, it
        ends after `length` positions or at the row's end (training windows). Raises
        GatoEvalError when `start` is not a timestep start or no whole timestep fits.
        """
        self._require_one_row("window")
        total = int(self.lengths[0])
        if length < 1:
            raise GatoEvalError(f"a token window needs a positive length, got {length}")
        if not (0 <= start < total and self.timestep_start[0, start]):
            raise GatoEvalError(
                f"a token window must begin at a timestep start; position {start} is not one "
                f"(row of {total} positions)"
            )
        end = min(start + length, total)
        if whole_timesteps and end < total:
            starts = self.timestep_starts()
            end = int(starts[np.searchsorted(starts, end, side="right") - 1])
            if end <= start:
                raise GatoEvalError(
                    f"a window of {length} positions holds no whole timestep starting at "
                    f"position {start}"
                )
        return self._slice_one_row(start, end)

    def check(self) -> None:
        """Raise ValueError unless the fields agree (shapes, dtypes, padding, patch count)."""
        b, length = self.shape
        for name in _PER_POSITION:
            array = getattr(self, name)
            if array.shape != (b, length) or array.dtype != _DTYPES[name]:
                raise ValueError(f"TokenBatch.{name}: {array.dtype} {array.shape}, not (B, L)")
        n = int(self.is_image.sum())
        expected = {"patches": (n, 3, PATCH_SIZE, PATCH_SIZE), "patch_row_interval": (n, 2)}
        expected["patch_col_interval"] = (n, 2)
        for name, shape in expected.items():
            array = getattr(self, name)
            if array.shape != shape or array.dtype != _DTYPES[name]:
                raise ValueError(f"TokenBatch.{name}: {array.dtype} {array.shape}, not {shape}")
        prefix = np.arange(length)[None, :] < self.lengths[:, None]
        if not np.array_equal(prefix, self.valid):
            raise ValueError("TokenBatch.valid is not a prefix of every row (right padding)")
        outside = ~self.valid & (self.is_image | self.loss_mask | self.timestep_start)
        if outside.any() or (self.token_ids[~self.valid] != 0).any():
            raise ValueError("TokenBatch padding carries tokens, images, targets or starts")

    def _require_one_row(self, what: str) -> None:
        if self.num_rows != 1:
            raise ValueError(f"TokenBatch.{what} needs a 1-row batch, not {self.num_rows} rows")

    def _slice_one_row(self, start: int, end: int) -> TokenBatch:
        first_patch = int(self.is_image[0, :start].sum())
        last_patch = first_patch + int(self.is_image[0, start:end].sum())
        per_position = {name: getattr(self, name)[:, start:end] for name in _PER_POSITION}
        return _with_patches(per_position, self, slice(first_patch, last_patch))


_PER_POSITION = (
    "token_ids",
    "local_positions",
    "is_image",
    "loss_mask",
    "valid",
    "timestep_start",
)
_DTYPES = {
    "token_ids": np.dtype(np.int64),
    "local_positions": np.dtype(np.int64),
    "is_image": np.dtype(bool),
    "loss_mask": np.dtype(bool),
    "valid": np.dtype(bool),
    "timestep_start": np.dtype(bool),
    "patches": np.dtype(np.float32),
    "patch_row_interval": np.dtype(np.int64),
    "patch_col_interval": np.dtype(np.int64),
}


def _patch_offsets(batch: TokenBatch) -> np.ndarray:
    """int64 (B + 1,): row b's patches are patches[offsets[b]:offsets[b + 1]]."""
    return np.concatenate([[0], np.cumsum(batch.is_image.sum(axis=1))]).astype(np.int64)


def _with_patches(per_position: dict, source: TokenBatch, patches: slice) -> TokenBatch:
    """A TokenBatch from per-position arrays (copied) and a slice of `source`'s patches."""
    return TokenBatch(
        **{name: np.ascontiguousarray(array).copy() for name, array in per_position.items()},
        patches=source.patches[patches].copy(),
        patch_row_interval=source.patch_row_interval[patches].copy(),
        patch_col_interval=source.patch_col_interval[patches].copy(),
    )


def empty_token_batch(num_rows: int = 1) -> TokenBatch:
    """A batch of `num_rows` empty rows (L = 0): the start of a context."""
    per_position = {name: np.zeros((num_rows, 0), _DTYPES[name]) for name in _PER_POSITION}
    return TokenBatch(
        **per_position,
        patches=np.zeros((0, 3, PATCH_SIZE, PATCH_SIZE), np.float32),
        patch_row_interval=np.zeros((0, 2), np.int64),
        patch_col_interval=np.zeros((0, 2), np.int64),
    )


def concat_rows(parts: Sequence[TokenBatch]) -> TokenBatch:
    """Row b of the result is row b of parts[0], then row b of parts[1], ... (padding dropped).

    Every part has the same number of rows B. Used for prompt + live tokens, and for appending
    each step's tokens to a context. Vectorized per part (no loop over rows or tokens).
    """
    if not parts:
        raise ValueError("concat_rows needs at least one TokenBatch")
    num_rows = parts[0].num_rows
    if any(part.num_rows != num_rows for part in parts):
        raise ValueError(f"concat_rows: row counts differ: {[p.num_rows for p in parts]}")
    lengths = np.stack([part.lengths for part in parts])  # (K, B)
    starts = np.cumsum(lengths, axis=0) - lengths  # (K, B) where part k begins in row b
    total = lengths.sum(axis=0)  # (B,)
    out = {
        name: np.zeros((num_rows, int(total.max(initial=0))), _DTYPES[name])
        for name in _PER_POSITION
    }
    patch_keys, patch_sources = [], []
    for k, part in enumerate(parts):
        rows, cols = np.nonzero(part.valid)  # row-major, as valid is a prefix of each row
        out_cols = starts[k][rows] + cols
        for name in _PER_POSITION:
            out[name][rows, out_cols] = getattr(part, name)[rows, cols]
        image_rows, image_cols = np.nonzero(part.is_image)
        patch_keys.append(
            image_rows * (out["valid"].shape[1] + 1) + starts[k][image_rows] + image_cols
        )
        patch_sources.append(part)
    # Patches must follow the image positions in row-major order of the result.
    order = np.argsort(np.concatenate(patch_keys), kind="stable")
    gathered = {
        name: np.concatenate([getattr(part, name) for part in patch_sources])[order]
        for name in ("patches", "patch_row_interval", "patch_col_interval")
    }
    return TokenBatch(**out, **gathered)


def stack_rows(rows: Sequence[TokenBatch], length: int | None = None) -> TokenBatch:
    """All rows of `rows` (each a batch of any row count) as one right-padded batch.

    length: the padded length L (default: the longest row). A row longer than `length` is an
    error: cut it first with `TokenBatch.window`.
    """
    if not rows:
        raise ValueError("stack_rows needs at least one TokenBatch")
    longest = max(int(batch.lengths.max(initial=0)) for batch in rows)
    length = longest if length is None else int(length)
    if longest > length:
        raise GatoEvalError(f"a token row of {longest} positions does not fit length {length}")
    out = {}
    for name in _PER_POSITION:
        padded = []
        for batch in rows:
            array = getattr(batch, name)[:, :length]  # only padding lies beyond `longest`
            pad = length - array.shape[1]
            padded.append(np.pad(array, ((0, 0), (0, pad))) if pad else array)
        out[name] = np.concatenate(padded).astype(_DTYPES[name], copy=False)
    for name in ("patches", "patch_row_interval", "patch_col_interval"):
        out[name] = np.concatenate([getattr(batch, name) for batch in rows])
    return TokenBatch(**out)
