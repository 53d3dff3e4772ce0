"""Actions to token ids and back, for one action space (GATO.md sections 1 and 3).

- `Discrete(n, start)`: one token, id `value_offset + (a - start)`, valid range
  [value_offset, value_offset + n) (n <= 1024).
- `Box` of float dtype and any shape (flattened row-major): one token per element, bin ids
  [value_offset, value_offset + 1024). A Box whose bounds lie inside [-1, 1] is binned linearly
  unless `layout.mu_law_actions` is True; any other Box goes through mu-law first (the paper's
  "if not already" in [-1, 1]). Decoding takes the bin centre, inverts mu-law where it was
  applied and clips to the Box, so decoded actions always lie in the space.

Decoding refuses ids outside the action's valid range instead of clamping them: the sampler masks
to `token_ranges`, so such an id is a bug upstream that a clamp would hide.
"""

from __future__ import annotations

import gymnasium
import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.layout import NUM_VALUE_BINS, TokenLayout
from gato_eval.tokenizer.values import decode_continuous, encode_continuous


class ActionTokenizer:
    """Token ids of the actions of one `Discrete` or float `Box` action space.

    Attributes: `token_count` (tokens per action), `is_discrete`, `uses_mu_law` (Box only),
    `token_ranges` int64 (token_count, 2) of [lo, hi) valid ids per action token.
    """

    def __init__(self, action_space: gymnasium.spaces.Space, layout: TokenLayout) -> None:
        self.space = action_space
        self.layout = layout
        offset = layout.value_offset
        if isinstance(action_space, gymnasium.spaces.Discrete):
            n = int(action_space.n)
            if not 1 <= n <= NUM_VALUE_BINS:
                raise GatoEvalError(
                    f"action space Discrete({n}) has more than {NUM_VALUE_BINS} actions"
                )
            self.is_discrete = True
            self.uses_mu_law = False
            self.token_count = 1
            self.shape: tuple[int, ...] = ()
            self.token_ranges = np.array([[offset, offset + n]], dtype=np.int64)
        elif isinstance(action_space, gymnasium.spaces.Box):
            if not np.issubdtype(action_space.dtype, np.floating):
                raise GatoEvalError(
                    f"action space {action_space} is not a float Box (use Discrete for integers)"
                )
            self.is_discrete = False
            self.shape = tuple(action_space.shape)
            self.token_count = int(np.prod(self.shape, dtype=np.int64))
            if self.token_count < 1:
                raise GatoEvalError(f"action space {action_space} has no elements")
            inside_unit = bool(
                np.all(action_space.low >= -1.0) and np.all(action_space.high <= 1.0)
            )
            self.uses_mu_law = layout.mu_law_actions or not inside_unit
            self.token_ranges = np.tile(
                np.array([[offset, offset + NUM_VALUE_BINS]], dtype=np.int64),
                (self.token_count, 1),
            )
        else:
            raise GatoEvalError(
                f"action space {action_space} is not supported: Gato tokenizes Discrete(n) or "
                "Box(a,) actions"
            )

    def token_range(self, index: int) -> tuple[int, int]:
        """[lo, hi) of the ids valid for action token `index` (0 <= index < token_count)."""
        if not 0 <= index < self.token_count:
            raise IndexError(f"action token {index} of {self.token_count}")
        lo, hi = self.token_ranges[index]
        return int(lo), int(hi)

    def encode(self, actions) -> np.ndarray:
        """Actions, int (B,) for Discrete or float (B, *shape) for Box -> int64 ids (B, A)."""
        actions = np.asarray(actions)
        if self.is_discrete:
            return self._encode_discrete(actions)
        return self._encode_box(actions)

    def _encode_discrete(self, actions: np.ndarray) -> np.ndarray:
        if actions.ndim != 1 or not np.issubdtype(actions.dtype, np.integer):
            raise GatoEvalError(
                f"actions for {self.space} must be integers of shape (B,), got "
                f"{actions.dtype} {actions.shape}"
            )
        index = actions.astype(np.int64) - int(self.space.start)
        n = int(self.space.n)
        bad = (index < 0) | (index >= n)
        if bad.any():
            row = int(np.argmax(bad))
            raise GatoEvalError(
                f"action {int(actions[row])} (row {row}) is outside the action space {self.space}"
            )
        return (index + self.layout.value_offset)[:, None]

    def _encode_box(self, actions: np.ndarray) -> np.ndarray:
        if actions.shape[1:] != self.shape or actions.ndim != 1 + len(self.shape):
            raise GatoEvalError(
                f"actions for {self.space} must have shape (B, {', '.join(map(str, self.shape))})"
                f", got {actions.shape}"
            )
        if not np.issubdtype(actions.dtype, np.floating) and not np.issubdtype(
            actions.dtype, np.integer
        ):
            raise GatoEvalError(f"actions for {self.space} must be numbers, got {actions.dtype}")
        flat = actions.reshape(len(actions), self.token_count)  # (B, A), row-major
        finite = np.isfinite(flat)
        if not finite.all():
            row, column = np.argwhere(~finite)[0]
            raise GatoEvalError(
                f"action contains {flat[row, column]} at row {row}, element {column}"
            )
        return encode_continuous(flat, self.uses_mu_law) + self.layout.value_offset

    def decode(self, ids) -> np.ndarray:
        """int ids (B, A) -> actions inside the space: int64 (B,) or space dtype (B, *shape)."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] != self.token_count:
            raise GatoEvalError(
                f"action ids must have shape (B, {self.token_count}), got {ids.shape}"
            )
        lo, hi = self.token_ranges[:, 0], self.token_ranges[:, 1]
        bad = (ids < lo) | (ids >= hi)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise GatoEvalError(
                f"action token id {int(ids[row, column])} (row {row}, token {column}) is outside "
                f"its valid range [{lo[column]}, {hi[column]})"
            )
        values = ids.astype(np.int64) - self.layout.value_offset  # (B, A) bins or indices
        if self.is_discrete:
            return values[:, 0] + int(self.space.start)
        decoded = decode_continuous(values, self.uses_mu_law)  # (B, A) float64
        decoded = decoded.reshape((len(ids), *self.shape))
        low = self.space.low.astype(np.float64)
        high = self.space.high.astype(np.float64)
        return np.clip(decoded, low, high).astype(self.space.dtype)
