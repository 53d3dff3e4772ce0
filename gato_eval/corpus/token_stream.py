"""`TokenStream`: one episode or document stream, tokenized once, kept compact for sampling.

Training tokenizes every source once, up front (gato_eval.training.data), and cuts its sequences
from these flat rows (gato_eval.corpus.sequences). Image patches are stored as the uint8 pixels
they came from, a quarter of the float memory, and turned back into the tokenizer's exact float
patches only for the rows of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gato_eval.tokenizer.batch import TokenBatch

_PATCH_SCALE = np.float32(127.5 * 4.0)  # float patch = uint8 / 510 - 1/4 (tokenizer/images.py)


@dataclass
class TokenStream:
    """One flat row of tokens (an episode, a document stream), patches stored as uint8.

    token_ids, local_positions: int64 (L,); is_image, loss_mask, timestep_start: bool (L,);
    patches: uint8 (N, 3, 16, 16) with N = is_image.sum(); patch_row_interval,
    patch_col_interval: int64 (N, 2); patches_before: int64 (L + 1,) patches before position i.
    """

    token_ids: np.ndarray
    local_positions: np.ndarray
    is_image: np.ndarray
    loss_mask: np.ndarray
    timestep_start: np.ndarray
    patches: np.ndarray
    patch_row_interval: np.ndarray
    patch_col_interval: np.ndarray
    patches_before: np.ndarray

    @classmethod
    def from_token_batch(cls, batch: TokenBatch) -> TokenStream:
        """The valid positions of a 1-row TokenBatch; float patches are stored back as uint8."""
        if batch.num_rows != 1:
            raise ValueError(f"a token stream comes from a 1-row TokenBatch, not {batch.num_rows}")
        n = int(batch.lengths[0])
        patches = patches_to_uint8(batch.patches)
        is_image = batch.is_image[0, :n].copy()
        return cls(
            token_ids=batch.token_ids[0, :n].copy(),
            local_positions=batch.local_positions[0, :n].copy(),
            is_image=is_image,
            loss_mask=batch.loss_mask[0, :n].copy(),
            timestep_start=batch.timestep_start[0, :n].copy(),
            patches=patches,
            patch_row_interval=batch.patch_row_interval.copy(),
            patch_col_interval=batch.patch_col_interval.copy(),
            patches_before=np.concatenate([[0], np.cumsum(is_image)]).astype(np.int64),
        )

    @classmethod
    def concatenate(cls, streams: Sequence[TokenStream]) -> TokenStream:
        """Streams joined end to end (e.g. every document of the corpus)."""
        if not streams:
            raise ValueError("cannot concatenate zero token streams")
        is_image = np.concatenate([s.is_image for s in streams])
        joined = {
            name: np.concatenate([getattr(s, name) for s in streams])
            for name in (
                "token_ids",
                "local_positions",
                "loss_mask",
                "timestep_start",
                "patches",
                "patch_row_interval",
                "patch_col_interval",
            )
        }
        before = np.concatenate([[0], np.cumsum(is_image)]).astype(np.int64)
        return cls(is_image=is_image, patches_before=before, **joined)

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    def timestep_starts(self) -> np.ndarray:
        """int64 (k,): the positions where a timestep (a cut point) begins."""
        return np.flatnonzero(self.timestep_start)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in self.__dataclass_fields__)


def patches_to_uint8(patches: np.ndarray, chunk: int = 16_384) -> np.ndarray:
    """float32 (N, 3, 16, 16) tokenizer patches -> the uint8 pixels they came from.

    Exact: a float patch is pixel / 510 - 1/4 to within 1e-7, far below the 0.5 of rounding.
    Chunked, so a long Atari episode needs no second full-size float copy.
    """
    out = np.empty(patches.shape, dtype=np.uint8)
    for start in range(0, len(patches), chunk):
        pixels = np.rint((patches[start : start + chunk] + np.float32(0.25)) * _PATCH_SCALE)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
            raise ValueError("TokenBatch patches are not normalized uint8 pixels")
        out[start : start + chunk] = pixels
    return out
