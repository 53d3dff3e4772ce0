"""Where a full context window is cut: at timestep starts only, as few or as many as the mode says.

Pure functions over a row's `timestep_start` flags (True where a timestep begins), used by
`KVCacheDecoder` (see gato_eval.model.decoding for the two window modes).
"""

from __future__ import annotations

import numpy as np

from gato_eval.core.errors import GatoEvalError


def choose_cut(
    timestep_start: np.ndarray,
    n: int,
    context: int,
    window: str,
    recompute_chunk: int,
    new_starts_timestep: bool,
) -> int:
    """How many oldest positions to drop so that `n` more tokens fit in `context`.

    timestep_start: bool (length,), the row's cached positions. A cut falls on a timestep start;
    cutting everything is allowed only when the new tokens start a timestep themselves. `xl`
    drops the fewest whole timesteps; `recompute` drops enough to leave `recompute_chunk`
    positions free after the new tokens (so that its re-prefill is rare), or as many as it can.
    """
    length = len(timestep_start)
    if n > context:
        raise GatoEvalError(f"{n} tokens cannot be appended at once to a context of {context}")
    boundaries = np.flatnonzero(timestep_start[1:]) + 1
    if new_starts_timestep:
        boundaries = np.append(boundaries, length)  # dropping every cached token is allowed
    fitting = boundaries[length - boundaries + n <= context]
    if fitting.size == 0:
        raise GatoEvalError(
            f"the context of {context} tokens cannot hold the current timestep plus {n} new "
            "tokens: a timestep (with its prompt-free history cut) is longer than the context; "
            "use a longer context or fewer observation tokens"
        )
    if window == "xl":
        return int(fitting[0])
    roomy = fitting[length - fitting + n <= context - recompute_chunk]
    return int(roomy[0] if roomy.size else fitting[-1])


def current_timestep_lengths(timestep_start: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """int64 (R,): positions of each row's last (current) timestep.

    timestep_start: bool (R, C) flags (those at or past a row's length are stale and ignored);
    lengths: int64 (R,) cached positions per row.
    """
    context = timestep_start.shape[1]
    live = np.arange(context)[None, :] < lengths[:, None]  # (R, C)
    starts = timestep_start & live
    last = context - 1 - np.argmax(starts[:, ::-1], axis=1)  # (R,) the last start
    return lengths - np.where(starts.any(axis=1), last, 0)
