"""`TokenLayout`: which token ids mean what (GATO.md section 1, paper App. B).

Paper default: text [0, 32000); discrete and continuous values share [32000, 33024); the
separator is 33024; vocabulary 33025. Tiny presets with smaller SentencePiece vocabularies shift
everything down by the same rule (`TokenLayout.for_text_vocab`). The layout is stored in every
checkpoint's config, so a model trained with another layout still loads and decodes correctly.

`patch_position_rounding` is how image patch interval edges are quantized to the 128 position
buckets (`gato_eval.tokenizer.images.quantize_patch_edges`): "nearest", the paper's rule (App.
C.3), for new layouts; "floor" for layouts written before the field existed (gato-eval 0.1, the
bundled model), which read back as "floor" so that such a model tokenizes exactly as it was
trained. The layout version stays 1: an older gato-eval refuses the unknown field instead of
silently flooring a model trained with rounding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gato_eval.core.errors import GatoEvalError

NUM_VALUE_BINS = 1024  # discrete values and continuous bins share these ids (Sec. 2.1)
LAYOUT_FORMAT_VERSION = 1
PATCH_POSITION_ROUNDINGS = ("floor", "nearest")  # see gato_eval.tokenizer.images


@dataclass(frozen=True)
class TokenLayout:
    """Id ranges of one vocabulary.

    text ids: [0, text_vocab_size); value ids: [value_offset, value_offset + 1024);
    separator: value_offset + 1024; vocab_size = separator + 1.
    `mu_law_actions`: whether continuous actions inside [-1, 1] were mu-law encoded before
    binning (GATO.md decision: False, they are binned linearly).
    `patch_position_rounding`: "nearest" (the paper's) or "floor" (layouts from before the
    field; see the module docstring).
    """

    name: str
    text_vocab_size: int
    mu_law_actions: bool = False
    patch_position_rounding: str = "nearest"
    version: int = LAYOUT_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.text_vocab_size < 1:
            raise GatoEvalError(f"token layout {self.name!r}: text_vocab_size must be >= 1")
        if self.patch_position_rounding not in PATCH_POSITION_ROUNDINGS:
            raise GatoEvalError(
                f"token layout {self.name!r}: unknown patch position rounding "
                f"{self.patch_position_rounding!r} (choose one of "
                f"{', '.join(PATCH_POSITION_ROUNDINGS)})"
            )

    @property
    def value_offset(self) -> int:
        return self.text_vocab_size

    @property
    def num_value_bins(self) -> int:
        return NUM_VALUE_BINS

    @property
    def separator_id(self) -> int:
        return self.value_offset + NUM_VALUE_BINS

    @property
    def vocab_size(self) -> int:
        return self.separator_id + 1

    def value_range(self, num_values: int = NUM_VALUE_BINS) -> tuple[int, int]:
        """[lo, hi) ids of the first `num_values` value tokens (e.g. a Discrete(n) action)."""
        if not 1 <= num_values <= NUM_VALUE_BINS:
            raise GatoEvalError(f"num_values must be in [1, {NUM_VALUE_BINS}], got {num_values}")
        return self.value_offset, self.value_offset + num_values

    @classmethod
    def for_text_vocab(cls, text_vocab_size: int, name: str | None = None) -> TokenLayout:
        """A layout for a smaller SentencePiece vocabulary (tiny presets)."""
        return cls(name=name or f"gato-text{text_vocab_size}", text_vocab_size=text_vocab_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenLayout:
        """Parse a layout from a checkpoint config; unknown versions or fields are refused."""
        if not isinstance(data, dict):
            raise GatoEvalError("token layout must be a JSON object")
        version = data.get("version")
        if version != LAYOUT_FORMAT_VERSION:
            raise GatoEvalError(
                f"token layout version {version!r} is not supported "
                f"(this gato-eval reads version {LAYOUT_FORMAT_VERSION})"
            )
        known = {"name", "text_vocab_size", "mu_law_actions", "patch_position_rounding", "version"}
        unknown = set(data) - known
        if unknown:
            raise GatoEvalError(f"token layout has unknown fields: {sorted(unknown)}")
        try:
            return cls(
                name=str(data["name"]),
                text_vocab_size=int(data["text_vocab_size"]),
                mu_law_actions=bool(data.get("mu_law_actions", False)),
                # Absent: written before the field, by code that floored the edges.
                patch_position_rounding=str(data.get("patch_position_rounding", "floor")),
                version=int(version),
            )
        except KeyError as err:
            raise GatoEvalError(f"token layout is missing field {err.args[0]!r}") from None


PAPER_LAYOUT = TokenLayout(name="gato-paper", text_vocab_size=32000)
