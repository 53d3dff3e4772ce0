"""Images to 16x16 patches, and each patch's position for the patch position encoding.

Paper Sec. 2.1 and App. C.3 (GATO.md sections 1 and 2):

- an image is cut into non-overlapping 16x16 patches in raster order (row by row);
- pixels are normalized to [-1, 1] and divided by sqrt(16) = 4;
- a patch's pixel rows [r0, r1) and columns [c0, c1) are divided by the image height / width and
  quantized to 128 buckets, giving integer intervals [lo, hi). The model indexes its learnable
  row and column tables with one bucket of each interval: a uniform sample inside the interval
  in training (`sample_patch_positions`), the rounded mean in evaluation
  (`evaluation_patch_positions`).

Quantization rule: each edge x = r / H goes to a bucket by the layout's
`patch_position_rounding` (`quantize_patch_edges`):

- "nearest", the paper's (App. C.3: a 64 x 80 image, row interval [0.25, 0.5] -> [32, 64],
  column interval [0.4, 0.6] -> [51, 77]): floor(x * 128 + 1/2), halves up (not Python's
  round-half-to-even);
- "floor", the rule of layouts written before the field (the bundled model): floor(x * 128),
  which gives the column interval above as [51, 76] and moves 80-row Atari patch rows.

Either way the intervals of one image partition [0, 128) exactly: the first starts at 0, the
last ends at 128. Sides must be multiples of 16 (the suites crop or resize to such sizes,
documented per suite) and at most 16 * 128 = 2048 pixels, so that edges are at least one bucket
apart and no interval is empty under either rule.
"""

from __future__ import annotations

import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.batch import PATCH_POSITION_BUCKETS, PATCH_SIZE
from gato_eval.tokenizer.layout import PATCH_POSITION_ROUNDINGS

PIXEL_SCALE = 4.0  # sqrt(PATCH_SIZE): patch pixels in [-1, 1] are divided by it (Sec. 2.1)
MAX_IMAGE_SIDE = PATCH_SIZE * PATCH_POSITION_BUCKETS  # larger sides would give empty intervals


def check_image_shape(key: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of an image shape (H, W, 3), or a GatoEvalError naming `key` and the shape."""
    shape = tuple(int(s) for s in shape)
    ok = (
        len(shape) == 3
        and shape[2] == 3
        and all(0 < side <= MAX_IMAGE_SIDE and side % PATCH_SIZE == 0 for side in shape[:2])
    )
    if not ok:
        raise GatoEvalError(
            f"observation {key!r}: image shape {shape} is not (H, W, 3) with H and W multiples of "
            f"{PATCH_SIZE} between {PATCH_SIZE} and {MAX_IMAGE_SIDE} (crop or resize the frames "
            "in the suite's wrapper)"
        )
    return shape[0], shape[1]


def count_patches(height: int, width: int) -> int:
    """Number of 16x16 patches of an image of this size."""
    return (height // PATCH_SIZE) * (width // PATCH_SIZE)


def images_to_patches(images: np.ndarray) -> np.ndarray:
    """uint8 (B, H, W, 3) -> float32 (B, P, 3, 16, 16), P = H/16 * W/16 in raster order.

    Pixel values become `(pixel / 127.5 - 1) / 4`. Shapes are the caller's to check
    (`check_image_shape`).
    """
    b, h, w, c = images.shape
    rows, cols = h // PATCH_SIZE, w // PATCH_SIZE
    grid = images.reshape(b, rows, PATCH_SIZE, cols, PATCH_SIZE, c)  # (B, R, 16, C', 16, 3)
    patches = grid.transpose(0, 1, 3, 5, 2, 4)  # (B, R, C', 3, 16, 16)
    patches = patches.reshape(b, rows * cols, c, PATCH_SIZE, PATCH_SIZE)  # (B, P, 3, 16, 16)
    # One fused scale and shift: p / 127.5 - 1 then / 4 == p * (1 / 510) - 1 / 4.
    out = patches.astype(np.float32)
    out *= np.float32(1.0 / (127.5 * PIXEL_SCALE))
    out -= np.float32(1.0 / PIXEL_SCALE)
    return out


def quantize_patch_edges(edges: np.ndarray, side: int, rounding: str) -> np.ndarray:
    """Pixel edges int (N,) on an image side of `side` pixels -> their buckets int64 (N,).

    "floor": floor(e * 128 / side); "nearest": floor(e * 128 / side + 1/2). Both in exact
    integer arithmetic (the nearest rule as floor((2 * e * 128 + side) / (2 * side))), so no
    float rounding can move an edge.
    """
    edges = np.asarray(edges, dtype=np.int64)
    if rounding == "floor":
        return edges * PATCH_POSITION_BUCKETS // side
    if rounding == "nearest":
        return (2 * edges * PATCH_POSITION_BUCKETS + side) // (2 * side)
    raise GatoEvalError(
        f"unknown patch position rounding {rounding!r} (choose one of "
        f"{', '.join(PATCH_POSITION_ROUNDINGS)})"
    )


def patch_intervals(height: int, width: int, *, rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """Row and column bucket intervals of every patch, in raster order.

    `rounding` is the model's `TokenLayout.patch_position_rounding` ("nearest" or "floor").
    Returns (rows, cols), each int64 (P, 2) holding [lo, hi) in [0, 128].
    """
    row_edges = quantize_patch_edges(np.arange(0, height + 1, PATCH_SIZE), height, rounding)
    col_edges = quantize_patch_edges(np.arange(0, width + 1, PATCH_SIZE), width, rounding)
    row_iv = np.stack([row_edges[:-1], row_edges[1:]], axis=1)  # (R, 2)
    col_iv = np.stack([col_edges[:-1], col_edges[1:]], axis=1)  # (C', 2)
    n_rows, n_cols = len(row_iv), len(col_iv)
    rows = np.repeat(row_iv, n_cols, axis=0)  # patch p = r * C' + c has row interval r
    cols = np.tile(col_iv, (n_rows, 1))
    return rows.astype(np.int64), cols.astype(np.int64)


def evaluation_patch_positions(intervals):
    """Evaluation rule: the rounded mean of each [lo, hi) interval, `(lo + hi) // 2`.

    intervals: int (..., 2), numpy array or torch tensor. Returns int64 (...) of the same kind.
    Halves round down, so the index always lies inside [lo, hi) (a one-bucket interval [lo,
    lo + 1) gives lo).
    """
    return (intervals[..., 0] + intervals[..., 1]) // 2


def sample_patch_positions(intervals, generator=None):
    """Training rule: one bucket drawn uniformly from each [lo, hi) interval.

    intervals: int (..., 2), numpy array or torch tensor. `generator` is a
    `numpy.random.Generator` for arrays (default: a fresh unseeded one) or a `torch.Generator`
    for tensors (default: torch's global generator). Returns int64 (...) of the same kind.
    """
    lo, hi = intervals[..., 0], intervals[..., 1]
    if isinstance(intervals, np.ndarray):
        rng = generator if generator is not None else np.random.default_rng()
        return rng.integers(lo, hi).astype(np.int64)  # high is exclusive
    import torch  # a tensor came in, so torch is already loaded

    uniform = torch.rand(lo.shape, generator=generator, device=intervals.device)
    offset = (uniform * (hi - lo)).long()  # floor, since both factors are >= 0
    return torch.minimum(lo + offset, hi - 1)  # guard against rand() rounding up to 1.0
