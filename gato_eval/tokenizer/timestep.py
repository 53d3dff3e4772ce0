"""Timesteps to Gato token sequences: observations, separator, actions (GATO.md sections 1, 3).

One timestep is `[text tokens][image patches][continuous][discrete] | [action tokens]`:

| part              | token id                    | local position        | loss |
|-------------------|-----------------------------|-----------------------|------|
| text              | SentencePiece id            | 0, 1, ...             | no   |
| image patch       | 0 (`is_image`)              | continues             | no   |
| continuous value  | offset + bin (mu-law)       | continues             | no   |
| discrete value    | offset + value              | continues             | no   |
| separator `|`     | layout.separator_id         | after the last one, k | no   |
| action token      | offset + index or bin       | ACTION_LOCAL_POSITION | yes  |

`TimestepTokenizer` is built once per task from its declared spaces and encodes

- live observations, one row per env (`encode_observations`; the policy appends the actions it
  samples with `action_token_batch`), and
- whole episodes, one row per episode (`encode_episode`; demonstrations for prompts, training).

Everything is batched numpy over rows and timesteps: text is encoded once per distinct string.
"""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium
import numpy as np

from gato_eval.core.errors import GatoEvalError
from gato_eval.tokenizer.actions import ActionTokenizer
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, LOCAL_POSITIONS, TokenBatch
from gato_eval.tokenizer.images import images_to_patches, patch_intervals
from gato_eval.tokenizer.layout import TokenLayout
from gato_eval.tokenizer.observations import IMAGE_KEY, TEXT_KEY, ObservationFields
from gato_eval.tokenizer.text import TextTokenizer, check_text_vocab
from gato_eval.tokenizer.values import encode_continuous


class TimestepTokenizer:
    """Token sequences of one task's timesteps, and its actions back from token ids.

    observation_space: a `spaces.Dict` following the observation contract
    (`gato_eval.core.task_spec`); action_space: `Discrete(n)` or a float `Box`; layout: the id
    ranges of the model; text: the model's SentencePiece tokenizer (needed when the space has
    `text`; its size must equal layout.text_vocab_size).
    """

    def __init__(
        self,
        observation_space: gymnasium.spaces.Space,
        action_space: gymnasium.spaces.Space,
        layout: TokenLayout,
        text: TextTokenizer | None = None,
    ) -> None:
        self.layout = layout
        self.fields = ObservationFields(observation_space)
        self.actions = ActionTokenizer(action_space, layout)
        if self.fields.has_text and text is None:
            raise GatoEvalError("the observation space has 'text': a text tokenizer is needed")
        if text is not None:
            check_text_vocab(text, layout)
        self.text = text
        if self.fields.image_shape is not None:
            self._patch_rows, self._patch_cols = patch_intervals(
                *self.fields.image_shape, rounding=layout.patch_position_rounding
            )
        self._check_local_positions(text_length=0)

    @classmethod
    def for_env(
        cls, env: gymnasium.Env, layout: TokenLayout, text: TextTokenizer | None = None
    ) -> TimestepTokenizer:
        """The tokenizer of an env's declared observation and action spaces."""
        return cls(env.observation_space, env.action_space, layout, text)

    # -- sizes -------------------------------------------------------------------------------

    @property
    def action_token_count(self) -> int:
        """Tokens per action: 1 for Discrete, the element count for a Box."""
        return self.actions.token_count

    def action_token_range(self, index: int) -> tuple[int, int]:
        """[lo, hi) of the ids valid for the `index`-th action token (for masked sampling)."""
        return self.actions.token_range(index)

    def count_text_tokens(self, text: str) -> int:
        """How many tokens `text` takes (0 when the task has no text observation)."""
        return len(self.text.encode_array(text)) if self.fields.has_text else 0

    def observation_token_count(self, text_length: int = 0) -> int:
        """Observation positions of one timestep (patches included, separator excluded)."""
        return text_length + self.fields.num_patches + self.fields.num_value_tokens

    def tokens_per_timestep(self, text_length: int = 0) -> int:
        """Positions of one whole timestep: observation, separator, actions."""
        return self.observation_token_count(text_length) + 1 + self.action_token_count

    def _check_local_positions(self, text_length: int) -> None:
        count = self.observation_token_count(text_length)
        if count + 1 > LOCAL_POSITIONS:  # the separator takes local position `count`
            raise GatoEvalError(
                f"an observation of {count} tokens (text {text_length}, image patches "
                f"{self.fields.num_patches}, values {self.fields.num_value_tokens}) plus the "
                f"separator exceeds the {LOCAL_POSITIONS} local positions"
            )

    # -- actions -----------------------------------------------------------------------------

    def encode_actions(self, actions) -> np.ndarray:
        """Actions (B,) or (B, a) -> int64 ids (B, action_token_count)."""
        return self.actions.encode(actions)

    def decode_actions(self, ids) -> np.ndarray:
        """int ids (B, action_token_count) -> actions inside the action space (B,) or (B, a)."""
        return self.actions.decode(ids)

    def action_token_batch(self, ids, loss: bool = False) -> TokenBatch:
        """A TokenBatch of action ids (B, action_token_count), to append to live contexts."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] != self.action_token_count:
            raise GatoEvalError(
                f"action ids must have shape (B, {self.action_token_count}), got {ids.shape}"
            )
        shape = ids.shape
        return TokenBatch(
            token_ids=ids.copy(),
            local_positions=np.full(shape, ACTION_LOCAL_POSITION, dtype=np.int64),
            is_image=np.zeros(shape, dtype=bool),
            loss_mask=np.full(shape, loss, dtype=bool),
            valid=np.ones(shape, dtype=bool),
            timestep_start=np.zeros(shape, dtype=bool),
            patches=np.zeros((0, 3, 16, 16), dtype=np.float32),
            patch_row_interval=np.zeros((0, 2), dtype=np.int64),
            patch_col_interval=np.zeros((0, 2), dtype=np.int64),
        )

    # -- observations and episodes -----------------------------------------------------------

    def encode_observations(self, observations: Mapping) -> TokenBatch:
        """A batch of observations (one per env) -> B rows of observation tokens + separator.

        observations: the batched observation dict (`gato_eval.core.policy`). Rows are
        right-padded when their text lengths differ. No position is a loss target.
        """
        num_rows = self.fields.check_batch(observations)
        return self._encode(observations, num_rows, action_ids=None, flatten=False)

    def encode_episode(self, observations: Mapping, actions, loss_on_actions: bool = True):
        """One episode -> a 1-row TokenBatch of its T timesteps in time order.

        observations: the `Episode.observations` dict (T + 1 entries; the last, the observation
        after the final step, is dropped) or exactly T entries; actions: int (T,) or float
        (T, a). Action tokens are loss targets when `loss_on_actions`.
        """
        actions = np.asarray(actions)
        steps = len(actions)
        if not isinstance(observations, Mapping):
            raise GatoEvalError(f"episode observations must be a dict, got {type(observations)}")
        lengths = {key: len(value) for key, value in observations.items()}
        if any(length not in (steps, steps + 1) for length in lengths.values()):
            raise GatoEvalError(
                f"an episode of {steps} actions needs {steps} or {steps + 1} observations per "
                f"key, got {lengths}"
            )
        first = {key: value[:steps] for key, value in observations.items()}
        self.fields.check_batch(first, what="episode observation")
        action_ids = self.actions.encode(actions)  # (T, A)
        return self._encode(first, steps, action_ids, flatten=True, loss=loss_on_actions)

    def _encode(
        self,
        observations: Mapping,
        num_rows: int,
        action_ids: np.ndarray | None,
        flatten: bool,
        loss: bool = False,
    ) -> TokenBatch:
        """Assemble N timesteps (checked input) into N padded rows or one flat row.

        Each timestep is [text (ragged)][fixed part]; the fixed part has the same F columns for
        every timestep: P image columns, V value columns, the separator and A action columns.
        """
        layout, fields = self.layout, self.fields
        values = [np.zeros((num_rows, 0), dtype=np.int64)]
        for field, column in fields.value_columns(observations):  # token order
            if field.is_continuous:
                values.append(encode_continuous(column, mu_law=True) + layout.value_offset)
            else:
                values.append(column.astype(np.int64) + layout.value_offset)
        n_actions = 0 if action_ids is None else action_ids.shape[1]
        fixed = np.concatenate(
            [
                np.zeros((num_rows, fields.num_patches), dtype=np.int64),
                *values,
                np.full((num_rows, 1), layout.separator_id, dtype=np.int64),
                *([] if action_ids is None else [action_ids]),
            ],
            axis=1,
        )  # (N, F)
        width = fixed.shape[1]
        column_kind = np.zeros(width, dtype=np.int8)  # 0 observation or separator
        column_kind[: fields.num_patches] = 1  # image patch
        column_kind[width - n_actions :] = 2  # action

        text_ids, text_lengths = self._text_tokens(observations, num_rows)  # (N, Tmax), (N,)
        positions = np.arange(text_ids.shape[1] + width)[None, :]  # (1, W)
        in_fixed = positions - text_lengths[:, None]  # (N, W) column inside the fixed part
        in_text = in_fixed < 0
        valid = in_fixed < width
        fixed_column = np.clip(in_fixed, 0, width - 1)
        token_ids = np.take_along_axis(fixed, fixed_column, axis=1)  # (N, W)
        if text_ids.shape[1]:
            text_column = np.minimum(positions, text_ids.shape[1] - 1)
            token_ids = np.where(in_text, np.take_along_axis(text_ids, text_column, 1), token_ids)
        kind = np.where(in_text, 0, column_kind[fixed_column]) * valid  # (N, W)
        # Observation tokens and the separator are numbered by their position in the timestep.
        local = np.where(kind == 2, ACTION_LOCAL_POSITION, np.broadcast_to(positions, kind.shape))
        batch_fields = {
            "token_ids": np.where(valid, token_ids, 0),
            "local_positions": np.where(valid, local, 0),
            "is_image": kind == 1,
            "loss_mask": (kind == 2) & loss,
            "valid": valid,
            "timestep_start": (positions == 0) & valid,
        }
        if flatten:  # one row: the valid positions in time order
            batch_fields = {name: array[valid][None, :] for name, array in batch_fields.items()}
        return TokenBatch(**batch_fields, **self._patches(observations, num_rows))

    def _text_tokens(self, observations: Mapping, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Text ids right-padded to (N, Tmax) and their lengths (N,); (N, 0) without text."""
        if not self.fields.has_text:
            return np.zeros((num_rows, 0), dtype=np.int64), np.zeros(num_rows, dtype=np.int64)
        texts = np.asarray(list(observations[TEXT_KEY]), dtype=object)
        distinct, inverse = np.unique(texts, return_inverse=True)
        encoded = [self.text.encode_array(str(text)) for text in distinct]  # once per string
        lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)
        table = np.zeros((len(distinct), int(lengths.max(initial=0))), dtype=np.int64)
        for row, ids in enumerate(encoded):
            table[row, : len(ids)] = ids
        self._check_local_positions(int(lengths.max(initial=0)))
        return table[inverse.reshape(-1)], lengths[inverse.reshape(-1)]

    def _patches(self, observations: Mapping, num_rows: int) -> dict[str, np.ndarray]:
        """Patches (N * P, 3, 16, 16) and their intervals (N * P, 2), timestep-major."""
        if self.fields.image_shape is None:
            return {
                "patches": np.zeros((0, 3, 16, 16), dtype=np.float32),
                "patch_row_interval": np.zeros((0, 2), dtype=np.int64),
                "patch_col_interval": np.zeros((0, 2), dtype=np.int64),
            }
        patches = images_to_patches(observations[IMAGE_KEY])  # (N, P, 3, 16, 16)
        return {
            "patches": patches.reshape(-1, *patches.shape[2:]),
            "patch_row_interval": np.tile(self._patch_rows, (num_rows, 1)),
            "patch_col_interval": np.tile(self._patch_cols, (num_rows, 1)),
        }
