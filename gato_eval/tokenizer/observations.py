"""The declared observation space of a task, and checks of batches against it.

The observation dict contract (`gato_eval.core.task_spec`): keys `text` (spaces.Text), `image`
(uint8 Box (H, W, 3)), `discrete` (integer Box, values in [0, 1024)) and `continuous` (float
Box). Tokens go in the paper's order (GATO.md section 1): text, image patches, then the other
tensors in lexicographic order of their keys (`continuous` before `discrete`), each flattened
row-major.

Every check names the observation key, so a suite wrapper that drifts from its declared space
fails with a message that points at the culprit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import gymnasium
import numpy as np

from gato_eval.core.errors import GatoEvalError, close_matches
from gato_eval.tokenizer.images import check_image_shape, count_patches
from gato_eval.tokenizer.layout import NUM_VALUE_BINS

TEXT_KEY, IMAGE_KEY = "text", "image"
VALUE_KEYS = ("continuous", "discrete")  # the tensor keys, already in lexicographic order
KNOWN_KEYS = (TEXT_KEY, IMAGE_KEY, *VALUE_KEYS)


@dataclass(frozen=True)
class ValueField:
    """One tensor observation: its key, per-row shape, element count and kind."""

    key: str
    shape: tuple[int, ...]
    size: int
    is_continuous: bool


class ObservationFields:
    """What a task's observation space declares, in token order.

    has_text: bool; image_shape: (H, W) or None; num_patches: P; values: the ValueFields in
    token order; num_value_tokens: V (the sum of their sizes).
    """

    def __init__(self, observation_space: gymnasium.spaces.Space) -> None:
        if not isinstance(observation_space, gymnasium.spaces.Dict):
            raise GatoEvalError(
                f"observation space must be a gymnasium.spaces.Dict with keys from "
                f"{list(KNOWN_KEYS)}, got {type(observation_space).__name__}"
            )
        spaces = dict(observation_space.spaces)
        for key in spaces:
            if key not in KNOWN_KEYS:
                raise GatoEvalError(
                    f"observation key {key!r} is not one of {list(KNOWN_KEYS)}"
                    + close_matches(key, KNOWN_KEYS)
                )
        if not spaces:
            raise GatoEvalError("observation space declares no observation keys")
        self.keys = tuple(sorted(spaces))
        self.has_text = TEXT_KEY in spaces
        if self.has_text and not isinstance(spaces[TEXT_KEY], gymnasium.spaces.Text):
            raise GatoEvalError(f"observation 'text' must be a spaces.Text, got {spaces[TEXT_KEY]}")
        self.image_shape: tuple[int, int] | None = None
        self.num_patches = 0
        if IMAGE_KEY in spaces:
            space = spaces[IMAGE_KEY]
            if not isinstance(space, gymnasium.spaces.Box) or space.dtype != np.uint8:
                raise GatoEvalError(f"observation 'image' must be a uint8 Box, got {space}")
            self.image_shape = check_image_shape(IMAGE_KEY, space.shape)
            self.num_patches = count_patches(*self.image_shape)
        self.values = tuple(_value_field(key, spaces[key]) for key in VALUE_KEYS if key in spaces)
        self.num_value_tokens = sum(field.size for field in self.values)

    def check_batch(self, observations: Mapping, what: str = "observation") -> int:
        """Check a batch (leading axis = rows) against the space; return its row count B.

        Raises GatoEvalError naming the key for a missing or undeclared key, a wrong shape or
        dtype, a discrete value outside [0, 1024), or a NaN / infinite continuous value.
        """
        if not isinstance(observations, Mapping):
            raise GatoEvalError(f"{what} must be a dict, got {type(observations).__name__}")
        missing = [key for key in self.keys if key not in observations]
        extra = [key for key in observations if key not in self.keys]
        if missing or extra:
            raise GatoEvalError(
                f"{what} keys {sorted(map(str, observations))} differ from the declared "
                f"{list(self.keys)}"
                + (f": missing {missing}" if missing else "")
                + (f": undeclared {extra}" if extra else "")
            )
        rows = {key: _row_count(key, observations[key]) for key in self.keys}
        if len(set(rows.values())) != 1:
            raise GatoEvalError(f"{what} keys have different numbers of rows: {rows}")
        if self.has_text:
            _check_texts(observations[TEXT_KEY])
        if self.image_shape is not None:
            _check_array(observations[IMAGE_KEY], IMAGE_KEY, (*self.image_shape, 3), "uint8")
        for field in self.values:
            array = observations[field.key]
            kind = "float" if field.is_continuous else "integer"
            _check_array(array, field.key, field.shape, kind)
            if field.is_continuous:
                _check_finite(array, field.key)
            else:
                _check_discrete_range(array, field.key)
        return next(iter(rows.values()))

    def value_columns(self, observations: Mapping) -> list[tuple[ValueField, np.ndarray]]:
        """Each value field's batch flattened to (B, size), in token order (checked input)."""
        return [
            (field, np.asarray(observations[field.key]).reshape(-1, field.size))
            for field in self.values
        ]


def _value_field(key: str, space: gymnasium.spaces.Space) -> ValueField:
    if not isinstance(space, gymnasium.spaces.Box):
        raise GatoEvalError(f"observation {key!r} must be a Box, got {space}")
    shape = tuple(int(s) for s in space.shape)
    size = int(np.prod(shape, dtype=np.int64))
    if key == "continuous":
        if not np.issubdtype(space.dtype, np.floating):
            raise GatoEvalError(f"observation 'continuous' must be a float Box, got {space}")
        return ValueField(key, shape, size, is_continuous=True)
    if not np.issubdtype(space.dtype, np.integer):
        raise GatoEvalError(f"observation 'discrete' must be an integer Box, got {space}")
    if np.any(space.low < 0) or np.any(space.high >= NUM_VALUE_BINS):
        raise GatoEvalError(
            f"observation 'discrete' declares values outside [0, {NUM_VALUE_BINS}): {space}"
        )
    return ValueField(key, shape, size, is_continuous=False)


def _row_count(key: str, value) -> int:
    if isinstance(value, str):
        raise GatoEvalError(f"observation {key!r} must be batched (a list of B strings), got a str")
    try:
        return len(value)
    except TypeError:
        raise GatoEvalError(
            f"observation {key!r} must be batched (leading axis = rows), got {type(value).__name__}"
        ) from None


def _check_texts(texts) -> None:
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise GatoEvalError(
                f"observation 'text' row {row} must be a str, got {type(text).__name__}"
            )


def _check_array(value, key: str, row_shape: tuple[int, ...], kind: str) -> None:
    if not isinstance(value, np.ndarray):
        raise GatoEvalError(
            f"observation {key!r} must be a numpy array, got {type(value).__name__}"
        )
    dtype_ok = {
        "uint8": value.dtype == np.uint8,
        "integer": np.issubdtype(value.dtype, np.integer),
        "float": np.issubdtype(value.dtype, np.floating),
    }[kind]
    if not dtype_ok or value.shape[1:] != row_shape:
        raise GatoEvalError(
            f"observation {key!r}: expected {kind} array of shape (B, "
            f"{', '.join(map(str, row_shape))}), got {value.dtype} {value.shape}"
        )


def _check_finite(array: np.ndarray, key: str) -> None:
    finite = np.isfinite(array)
    if not finite.all():
        where = np.argwhere(~finite)[0]
        bad = array[tuple(where)]
        raise GatoEvalError(
            f"observation {key!r} contains {bad} at row {where[0]}, element "
            f"{tuple(int(i) for i in where[1:])}"
        )


def _check_discrete_range(array: np.ndarray, key: str) -> None:
    bad = (array < 0) | (array >= NUM_VALUE_BINS)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise GatoEvalError(
            f"observation {key!r} has value {array[tuple(where)]} outside [0, {NUM_VALUE_BINS}) "
            f"at row {where[0]}, element {tuple(int(i) for i in where[1:])}"
        )
