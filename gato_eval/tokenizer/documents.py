"""Non-control training sequences: text documents and captioned images (paper Sec. 3.2).

Gato trains on text and vision-language data beside its control episodes, in the same token
space. These sequences belong to no task, so they need no observation space:

- `encode_text`: a document's SentencePiece ids; every token after the first is a target (the
  first has nothing before it to be predicted from). Any position may start a window.
- `encode_image_caption`: an image's patches, then its caption; every caption token is a target,
  the first one predicted from the image. The pair is one unit: it starts only at position 0.

Patches take local positions 0..P-1 (the image is an observation); text outside observations
takes the shared non-observation position `ACTION_LOCAL_POSITION` (see `batch.py`).
"""

from __future__ import annotations

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, LOCAL_POSITIONS, TokenBatch
from gato_eval.tokenizer.images import check_image_shape, images_to_patches, patch_intervals
from gato_eval.tokenizer.layout import TokenLayout
from gato_eval.tokenizer.text import TextTokenizer, check_text_vocab


def encode_text(text: str, tokenizer: TextTokenizer, layout: TokenLayout) -> TokenBatch:
    """A text document -> a 1-row TokenBatch of its ids (loss on every token but the first)."""
    check_text_vocab(tokenizer, layout)
    ids = np.array(tokenizer.encode_array(text))  # (n,)
    if len(ids) == 0:
        raise GatoEvalError("cannot encode an empty text document")
    n = len(ids)
    loss = np.ones(n, dtype=bool)
    loss[0] = False
    return TokenBatch(
        token_ids=ids[None, :],
        local_positions=np.full((1, n), ACTION_LOCAL_POSITION, dtype=np.int64),
        is_image=np.zeros((1, n), dtype=bool),
        loss_mask=loss[None, :],
        valid=np.ones((1, n), dtype=bool),
        timestep_start=np.ones((1, n), dtype=bool),
        patches=np.zeros((0, 3, 16, 16), dtype=np.float32),
        patch_row_interval=np.zeros((0, 2), dtype=np.int64),
        patch_col_interval=np.zeros((0, 2), dtype=np.int64),
    )


def encode_image_caption(
    image: np.ndarray, caption: str, tokenizer: TextTokenizer, layout: TokenLayout
) -> TokenBatch:
    """uint8 image (H, W, 3) and its caption -> a 1-row TokenBatch: P patches, then the caption.

    H and W must be multiples of 16. Loss on every caption token.
    """
    check_text_vocab(tokenizer, layout)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise GatoEvalError(f"caption image must be a uint8 numpy array, got {type(image)}")
    height, width = check_image_shape("image", image.shape)
    patches = images_to_patches(image[None])[0]  # (P, 3, 16, 16)
    if len(patches) > LOCAL_POSITIONS:
        raise GatoEvalError(
            f"an image of {len(patches)} patches exceeds the {LOCAL_POSITIONS} local positions"
        )
    caption_ids = np.array(tokenizer.encode_array(caption))  # (c,)
    if len(caption_ids) == 0:
        raise GatoEvalError("cannot encode an empty caption")
    p, c = len(patches), len(caption_ids)
    rows, cols = patch_intervals(height, width, rounding=layout.patch_position_rounding)
    is_caption = np.arange(p + c) >= p
    return TokenBatch(
        token_ids=np.concatenate([np.zeros(p, dtype=np.int64), caption_ids])[None, :],
        local_positions=np.where(is_caption, ACTION_LOCAL_POSITION, np.arange(p + c))[None, :],
        is_image=~is_caption[None, :],
        loss_mask=is_caption[None, :],
        valid=np.ones((1, p + c), dtype=bool),
        timestep_start=(np.arange(p + c) == 0)[None, :],
        patches=patches,
        patch_row_interval=rows,
        patch_col_interval=cols,
    )
