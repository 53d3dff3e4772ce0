"""Presets, exact parameter counts (never allocating 1.18B parameters), config parsing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gato_eval.core.errors import GatoEvalError
from gato_eval.model.config import PRESETS, GatoConfig, count_parameters, get_preset
from gato_eval.model.transformer import GatoModel
from gato_eval.tokenizer.layout import PAPER_LAYOUT, TokenLayout

NAMED_SIZES = {"gato-79m": 79e6, "gato-364m": 364e6, "gato-1.18b": 1.18e9}


def _built_count(config: GatoConfig) -> int:
    with torch.device("meta"):  # shapes only: no memory for the weights
        model = GatoModel(config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PRESETS))
def test_analytic_parameter_count_matches_the_built_model(name):
    assert count_parameters(PRESETS[name]) == _built_count(PRESETS[name])


def test_paper_presets_keep_the_paper_table_and_land_near_their_names():
    shape = {name: (c.num_layers, c.num_heads, c.width, c.ffn_size, c.kv_size) for name, c in
             PRESETS.items()}  # fmt: skip
    assert shape["gato-1.18b"] == (24, 16, 2048, 8192, 128)
    assert shape["gato-364m"] == (12, 12, 1536, 6144, 128)
    assert shape["gato-79m"] == (8, 24, 768, 3072, 32)
    # Tied embeddings, paper vocabulary; see gato_eval.model.config for why no standard block
    # reaches all three names within 5% (measured: +5.4%, +8.0%, +8.4%).
    measured = {}
    for name, size in NAMED_SIZES.items():
        assert PRESETS[name].layout == PAPER_LAYOUT and PRESETS[name].vocab_size == 33025
        measured[name] = count_parameters(PRESETS[name]) / size - 1
    assert 0.0 < measured["gato-79m"] < 0.06
    assert 0.0 < measured["gato-364m"] < 0.09
    assert 0.0 < measured["gato-1.18b"] < 0.09
    assert PRESETS["gato-79m"].context_length == 1024


def test_cpu_presets_are_small():
    assert 1e6 <= count_parameters(PRESETS["gato-tiny"]) <= 3e6
    assert 10e6 <= count_parameters(PRESETS["gato-small"]) <= 20e6
    assert PRESETS["gato-tiny"].context_length < 1024


def test_config_round_trips_through_json():
    config = get_preset("gato-tiny", dropout=0.0, layout=TokenLayout.for_text_vocab(300))
    again = GatoConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config


def test_a_config_may_name_a_preset_and_override_fields():
    config = GatoConfig.from_dict({"preset": "gato-small", "context_length": 256})
    assert config.width == PRESETS["gato-small"].width and config.context_length == 256


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"preset": "gato-79M"}, "did you mean: gato-79m"),
        ({"preset": "gato-tiny", "depth": 3}, "unknown fields"),
        ({"name": "x", "num_layers": 2}, "missing fields"),
        ({"preset": "gato-tiny", "num_layers": 0}, "positive integer"),
        ({"preset": "gato-tiny", "dropout": 1.5}, "dropout"),
        ({"preset": "gato-tiny", "patch_channels": 6}, "multiple of patch_groups"),
        ({"preset": "gato-tiny", "layout": {"name": "x", "version": 9}}, "layout version"),
        ({"preset": "gato-tiny", "version": 2}, "version 2"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_configs_are_one_clear_error(data, message):
    with pytest.raises(GatoEvalError, match=message):
        GatoConfig.from_dict(data)


def test_reading_configs_does_not_import_torch():
    code = (
        "import sys; from gato_eval.model import GatoConfig, count_parameters, PRESETS; "
        "count_parameters(PRESETS['gato-79m']); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
