"""`GatoConfig`: the shape of a Gato model, its presets and its exact parameter count.

Paper presets (Reed et al. 2022, App. C.1, GATO.md section 2) keep the paper's hyperparameters
verbatim: layers, heads, width, feed-forward size, key/value size. Two CPU presets (`gato-tiny`,
`gato-small`) use smaller text vocabularies (the token layout shifts down, GATO.md section 1).

Embeddings are **tied**: the LM head reuses the token embedding table (no extra matrix). With the
paper vocabulary (33025) the presets count 83.25M / 393.1M / 1.279B parameters for 79m / 364m /
1.18b: +5.4%, +8.0%, +8.4% of the names (`count_parameters`; embeddings, patch encoder and
position tables included). Untied is further off (+37%, +22%, +14%) and the transformer blocks
alone fall short (-28%, -6.6%, +2.4%). No counting of a standard pre-norm block with the paper's
table reaches all three names within 5%: the names fit about 11 d^2 parameters per layer plus
tied embeddings, where attention (4 d^2) and a 4d feed-forward (8 d^2) make 12 d^2. We keep the
paper's hyperparameters verbatim rather than invent an unstated architecture to match the names.

`position_bias` "alibi" is a documented deviation from the paper (README, Training): Gato has no
position signal across timesteps. A config written before the field existed reads back as
"none", so such a model decodes exactly as it was trained; the config version stays 1 (an older
gato-eval refuses the unknown field instead of silently dropping the bias).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from gato_eval.core.errors import GatoEvalError, close_matches
from gato_eval.tokenizer.batch import LOCAL_POSITIONS, PATCH_POSITION_BUCKETS, PATCH_SIZE
from gato_eval.tokenizer.layout import PAPER_LAYOUT, TokenLayout

CONFIG_FORMAT_VERSION = 1
# "none": the paper's Gato (order only through the causal mask and local observation positions);
# "alibi": a per-head linear attention penalty on query-key distance (gato_eval.model.alibi).
POSITION_BIASES = ("none", "alibi")


@dataclass(frozen=True)
class GatoConfig:
    """Hyperparameters of one Gato model.

    num_layers, num_heads, width (d_model), ffn_size (feed-forward hidden size), kv_size (per-head
    key/value size; num_heads * kv_size need not equal width), context_length (tokens the model
    attends over), dropout (embeddings, attention, residual branches; paper: 0.1), layout (the
    token id ranges; its vocab_size is the embedding/LM-head size), patch_channels and
    patch_groups (the image patch ResNet block: channels and GroupNorm groups), position_bias
    (POSITION_BIASES: "none", the paper's, or "alibi", a recency cue across timesteps).
    """

    name: str
    num_layers: int
    num_heads: int
    width: int
    ffn_size: int
    kv_size: int
    context_length: int = 1024
    dropout: float = 0.1
    layout: TokenLayout = PAPER_LAYOUT
    patch_channels: int = 32
    patch_groups: int = 8
    position_bias: str = "none"
    version: int = CONFIG_FORMAT_VERSION

    def __post_init__(self) -> None:
        positive = ("num_layers", "num_heads", "width", "ffn_size", "kv_size", "context_length")
        for key in (*positive, "patch_channels", "patch_groups"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GatoEvalError(f"model config {self.name!r}: {key} must be a positive integer")
        if not isinstance(self.dropout, int | float) or not 0.0 <= self.dropout < 1.0:
            raise GatoEvalError(f"model config {self.name!r}: dropout must be in [0, 1)")
        if self.patch_channels % self.patch_groups:
            raise GatoEvalError(
                f"model config {self.name!r}: patch_channels ({self.patch_channels}) must be a "
                f"multiple of patch_groups ({self.patch_groups})"
            )
        if self.position_bias not in POSITION_BIASES:
            raise GatoEvalError(
                f"model config {self.name!r}: position_bias must be one of "
                f"{', '.join(POSITION_BIASES)}, got {self.position_bias!r}"
            )
        if not isinstance(self.layout, TokenLayout):
            raise GatoEvalError(f"model config {self.name!r}: layout must be a TokenLayout")

    @property
    def vocab_size(self) -> int:
        return self.layout.vocab_size

    @property
    def attention_size(self) -> int:
        """num_heads * kv_size: the width of queries, keys and values together."""
        return self.num_heads * self.kv_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the layout as its own dict), as stored in a checkpoint's config."""
        data = asdict(self)
        data["layout"] = self.layout.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GatoConfig:
        """Parse a config dict; `{"preset": NAME, ...overrides}` starts from a preset.

        Unknown fields, missing fields, wrong types and unknown presets are `GatoEvalError`s.
        """
        if not isinstance(data, dict):
            raise GatoEvalError("model config must be a JSON object")
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"preset"}
        if unknown:
            raise GatoEvalError(f"model config has unknown fields: {sorted(unknown)}")
        if "layout" in data:
            data["layout"] = TokenLayout.from_dict(data["layout"])
        version = data.pop("version", CONFIG_FORMAT_VERSION)
        if version != CONFIG_FORMAT_VERSION:
            raise GatoEvalError(
                f"model config version {version!r} is not supported "
                f"(this gato-eval reads version {CONFIG_FORMAT_VERSION})"
            )
        if "preset" in data:
            base = get_preset(str(data.pop("preset")))
            return replace(base, **data)
        data.setdefault("position_bias", "none")  # written before the field existed
        missing = sorted(known - {"version"} - set(data))
        if missing:
            raise GatoEvalError(f"model config is missing fields: {missing}")
        try:
            return cls(**data)
        except TypeError as err:
            raise GatoEvalError(f"model config is malformed: {err}") from None


def _paper(name: str, layers: int, heads: int, width: int, ffn: int, kv: int) -> GatoConfig:
    return GatoConfig(name, layers, heads, width, ffn, kv)


PRESETS: dict[str, GatoConfig] = {
    # App. C.1, Table of transformer hyperparameters.
    "gato-1.18b": _paper("gato-1.18b", 24, 16, 2048, 8192, 128),
    "gato-364m": _paper("gato-364m", 12, 12, 1536, 6144, 128),
    "gato-79m": _paper("gato-79m", 8, 24, 768, 3072, 32),
    # CPU presets: small text vocabularies (a SentencePiece model of that size), short contexts.
    "gato-small": GatoConfig(
        "gato-small",
        num_layers=6,
        num_heads=6,
        width=384,
        ffn_size=1536,
        kv_size=64,
        context_length=1024,
        layout=TokenLayout.for_text_vocab(8000),
        patch_channels=16,
        patch_groups=4,
    ),
    "gato-tiny": GatoConfig(
        "gato-tiny",
        num_layers=4,
        num_heads=4,
        width=128,
        ffn_size=512,
        kv_size=32,
        context_length=512,
        # No dropout (#20): a 1.3M-parameter model trained for a few million tokens underfits
        # rather than overfits, and on CPU any attention dropout forces the unfused attention
        # kernel with a (B, H, L, L) Bernoulli mask, 2.6x the cost of a whole training step.
        dropout=0.0,
        layout=TokenLayout.for_text_vocab(1024),
        patch_channels=8,
        patch_groups=4,
    ),
}


def get_preset(name: str, **overrides: Any) -> GatoConfig:
    """The preset called `name`, with `overrides` (e.g. `layout=`, `dropout=`) applied."""
    if name not in PRESETS:
        raise GatoEvalError(
            f"unknown model preset {name!r}{close_matches(name, PRESETS)}; "
            f"presets: {', '.join(PRESETS)}"
        )
    try:
        return replace(PRESETS[name], **overrides)
    except TypeError as err:
        raise GatoEvalError(f"bad override for preset {name!r}: {err}") from None


def count_parameters(config: GatoConfig) -> int:
    """The exact number of trainable parameters of `GatoModel(config)`, computed analytically.

    Mirrors gato_eval.model.embedding and gato_eval.model.transformer (a test checks it against
    models built on the meta device), so 1.18B parameters never need allocating.
    """
    d, f, a, c = config.width, config.ffn_size, config.attention_size, config.patch_channels
    embedding = (
        config.vocab_size * d  # token table, shared with the LM head (tied)
        + (LOCAL_POSITIONS + 1) * d  # local observation positions + the shared action position
        + 2 * PATCH_POSITION_BUCKETS * d  # patch row and column positions
    )
    patch_encoder = (
        2 * 3  # GroupNorm over the 3 input channels
        + 3 * c * 9  # 3x3 conv 3 -> C (no bias: a GroupNorm follows)
        + 2 * c  # middle GroupNorm
        + c * 3 * 9
        + 3  # 3x3 conv C -> 3
        + 3 * PATCH_SIZE * PATCH_SIZE * d
        + d  # flattened patch -> width
    )
    block = (
        2 * d  # attention LayerNorm
        + d * 3 * a
        + 3 * a  # query, key, value projections
        + a * d
        + d  # output projection
        + 2 * d  # feed-forward LayerNorm
        + d * f
        + f  # feed-forward in
        + f * d
        + d  # feed-forward out
    )
    final_norm = 2 * d
    return embedding + patch_encoder + config.num_layers * block + final_norm
