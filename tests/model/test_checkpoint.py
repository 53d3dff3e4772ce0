"""Checkpoint directories: bit-exact round trips, and every broken input is one clear error."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from model_sequences import TEST_LAYOUT, make_model

from gato_eval.core.errors import GatoEvalError
from gato_eval.model.checkpoint import checkpoint_hash, load_checkpoint, save_checkpoint
from gato_eval.model.config import count_parameters
from gato_eval.model.device import resolve_device
from gato_eval.tokenizer.layout import TokenLayout

CORPUS = (
    "go to the red ball pick up a blue key open the green door put the box next to purple "
    "grey yellow object behind you then after and in front of left right turn move forward"
)


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    """A real SentencePiece model with exactly TEST_LAYOUT.text_vocab_size (64) pieces."""
    import sentencepiece

    path = tmp_path_factory.mktemp("spm") / "text64.model"
    words = CORPUS.split(" ")
    lines = [" ".join(words[i : i + 7]) for i in range(len(words) - 7)] * 20
    with open(path, "wb") as handle:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=handle,
            vocab_size=TEST_LAYOUT.text_vocab_size,
            model_type="bpe",
            minloglevel=2,
        )
    return path


@pytest.fixture
def saved(tmp_path, spm_model):
    model = make_model(layers=2)
    directory = save_checkpoint(
        model, tmp_path / "ckpt", tokenizer_path=spm_model, provenance={"steps": 7, "data": ["a"]}
    )
    return model, directory


def test_save_then_load_is_bit_exact(saved, spm_model):
    model, directory = saved
    loaded, config, tokenizer = load_checkpoint(directory, device="cpu")
    assert config == model.config and not loaded.training
    original, again = model.state_dict(), loaded.state_dict()
    assert original.keys() == again.keys()
    assert all(torch.equal(original[name], again[name]) for name in original)
    assert tokenizer == directory / spm_model.name
    assert tokenizer.read_bytes() == spm_model.read_bytes()
    document = json.loads((directory / "config.json").read_text())
    assert document["provenance"] == {"steps": 7, "data": ["a"]}
    assert document["num_parameters"] == count_parameters(config)
    assert document["model"]["layout"]["text_vocab_size"] == 64


def test_loading_never_unpickles(saved, monkeypatch):
    _, directory = saved

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    load_checkpoint(directory)


def test_a_model_without_text_needs_no_tokenizer(tmp_path):
    directory = save_checkpoint(make_model(layers=1), tmp_path / "plain")
    _, _, tokenizer = load_checkpoint(directory)
    assert tokenizer is None


def test_a_file_inside_the_checkpoint_names_it(saved):
    _, directory = saved
    _, _, tokenizer = load_checkpoint(directory / "model.safetensors")
    assert tokenizer.parent == directory


def test_checkpoint_hash_is_stable_and_tracks_the_weights(saved, tmp_path):
    model, directory = saved
    first = checkpoint_hash(directory)
    assert first == checkpoint_hash(directory) and first.startswith("sha256:")
    with torch.no_grad():
        model.final_norm.bias += 1e-3
    other = save_checkpoint(model, tmp_path / "other")
    assert checkpoint_hash(other) != first


def test_resaving_replaces_files_and_keeps_foreign_ones(saved):
    model, directory = saved
    (directory / "optimizer.safetensors").write_bytes(b"trainer state")
    with torch.no_grad():
        model.final_norm.weight.mul_(2.0)
    save_checkpoint(model, directory, provenance={"steps": 8})
    loaded, _, tokenizer = load_checkpoint(directory)
    assert torch.equal(loaded.final_norm.weight, model.final_norm.weight)
    assert tokenizer is None
    assert (directory / "optimizer.safetensors").read_bytes() == b"trainer state"


def test_a_pickle_handed_in_is_refused(tmp_path, saved):
    model, directory = saved
    torch.save(model.state_dict(), tmp_path / "model.pt")  # zip archive holding a pickle
    with pytest.raises(GatoEvalError, match=r"model\.pt is a zip archive.*never unpickles"):
        load_checkpoint(tmp_path / "model.pt")
    (tmp_path / "raw.pkl").write_bytes(pickle.dumps({"weights": [1.0]}))
    with pytest.raises(GatoEvalError, match=r"raw\.pkl is a Python pickle"):
        load_checkpoint(tmp_path / "raw.pkl")
    # A pickle disguised as model.safetensors inside a checkpoint directory.
    shutil.copyfile(tmp_path / "model.pt", directory / "model.safetensors")
    with pytest.raises(GatoEvalError, match=r"model\.safetensors is a zip archive"):
        load_checkpoint(directory)


def test_a_truncated_tensor_file_is_refused(saved):
    _, directory = saved
    weights = directory / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(GatoEvalError, match=r"model\.safetensors is truncated"):
        load_checkpoint(directory)
    weights.write_bytes(data[:5])  # not even a header length
    with pytest.raises(GatoEvalError, match=r"model\.safetensors"):
        load_checkpoint(directory)


def test_a_corrupted_tensor_file_is_refused(saved):
    _, directory = saved
    weights = directory / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte inside a tensor: safetensors alone cannot see it
    weights.write_bytes(bytes(data))
    with pytest.raises(GatoEvalError, match=r"model\.safetensors is corrupted"):
        load_checkpoint(directory)


def _edit_config(directory, edit) -> None:
    path = directory / "config.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def test_a_shape_mismatch_is_refused(saved):
    _, directory = saved
    _edit_config(directory, lambda d: d["model"].update(ffn_size=48))
    with pytest.raises(GatoEvalError, match=r"model\.safetensors: tensor .*fc_in.* shape"):
        load_checkpoint(directory)


def test_a_layout_mismatch_is_refused(saved, tmp_path):
    model, directory = saved
    with pytest.raises(GatoEvalError, match="differs from the expected"):
        load_checkpoint(directory, layout=TokenLayout.for_text_vocab(65))
    # The layout recorded in config.json disagrees with the weights' vocabulary.
    _edit_config(directory, lambda d: d["model"]["layout"].update(text_vocab_size=100))
    with pytest.raises(GatoEvalError, match=r"embedding\.token\.weight.*token layout .* 1125 ids"):
        load_checkpoint(directory)
    plain = save_checkpoint(model, tmp_path / "plain")
    _edit_config(plain, lambda d: d["model"]["layout"].update(text_vocab_size=100))
    with pytest.raises(GatoEvalError, match=r"embedding\.token\.weight.*token layout"):
        load_checkpoint(plain)


def test_a_tokenizer_of_the_wrong_size_is_refused(spm_model, tmp_path):
    model = make_model(layers=1, layout=TokenLayout.for_text_vocab(65))
    with pytest.raises(GatoEvalError, match="64 pieces"):
        save_checkpoint(model, tmp_path / "ckpt", tokenizer_path=spm_model)


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: (d / "config.json").unlink(), "config.json is missing"),
        (lambda d: (d / "model.safetensors").unlink(), r"model\.safetensors is missing"),
        (lambda d: (d / "text64.model").unlink(), r"text64\.model is missing"),
        (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "config.json").write_text("[]"), "not a gato-eval checkpoint config"),
    ],
)
def test_missing_and_malformed_files_name_the_file(saved, break_it, message):
    _, directory = saved
    break_it(directory)
    with pytest.raises(GatoEvalError, match=message):
        load_checkpoint(directory)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(model={"preset": "gato-80m"}), r"config\.json.*unknown model preset"),
        (lambda d: d["model"].update(width="wide"), r"config\.json.*width"),
        (lambda d: d.update(format_version=2), "format version 2"),
        (lambda d: d["files"].update({"../x": "00"}), "bad entry"),
        (lambda d: d.update(tokenizer="other.model"), "not listed"),
        (lambda d: d.pop("files"), "missing 'files'"),
    ],
)
def test_bad_config_fields_name_the_file(saved, edit, message):
    _, directory = saved
    _edit_config(directory, edit)
    with pytest.raises(GatoEvalError, match=message):
        load_checkpoint(directory)


def test_missing_paths_are_clear(tmp_path):
    with pytest.raises(GatoEvalError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(GatoEvalError, match=r"config\.json is missing"):
        load_checkpoint(tmp_path)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(GatoEvalError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(GatoEvalError, match="no CUDA GPU"):
            resolve_device("cuda")


# The sha256 of a model's tokens for the first 20 steps of the first episode of each bundled
# prompt data set. The previous bundled model (2026-11-25) was trained with floored patch edges,
# before layouts carried a patch position rule: its hash was computed with the code it was trained
# with. The current one (2026-12-03) records "nearest" in its config.json; its hash pins that
# tokenization from the day it shipped. Atari frames (80 rows) are where the two rules differ.
PREVIOUS_BUNDLED_CONFIG = Path(__file__).with_name("previous_bundled_model_config.json")
TOKENS_SHA256 = {
    "previous": "34ef0013690f3e6b033fbd21ef9e8872bfd7dcc4b8f993658919f30607f4fbde",
    "bundled": "1e94ab03aca5bd767b2947c81ac3f55dfa78736ee5d7e7fbb5e3f6558f26f00a",
}
ATARI_ROW_EDGES = {"floor": [25, 51, 76, 102, 128], "nearest": [26, 51, 77, 102, 128]}


@pytest.mark.parametrize("model", ["previous", "bundled"])
def test_bundled_models_tokenize_exactly_as_they_were_trained(model):
    import hashlib

    import numpy as np
    from minari.serialization import deserialize_space

    from gato_eval.core.paths import BUNDLED_DIR
    from gato_eval.data.datasets import list_datasets
    from gato_eval.data.minari_io import read_episodes
    from gato_eval.model.config import GatoConfig
    from gato_eval.tokenizer.text import TextTokenizer
    from gato_eval.tokenizer.timestep import TimestepTokenizer

    _, config, tokenizer_path = load_checkpoint(BUNDLED_DIR / "model")
    layout = json.loads((BUNDLED_DIR / "model" / "config.json").read_text())["model"]["layout"]
    assert layout["patch_position_rounding"] == "nearest"
    if model == "previous":
        previous = json.loads(PREVIOUS_BUNDLED_CONFIG.read_text())
        # No rule in its config: it reads as the floor rule it was trained with. Both models
        # share the text tokenizer file (same sha256).
        assert "patch_position_rounding" not in previous["model"]["layout"]
        assert (
            previous["files"]["text.model"]
            == hashlib.sha256(tokenizer_path.read_bytes()).hexdigest()
        )
        config = GatoConfig.from_dict(previous["model"])
        assert config.layout.patch_position_rounding == "floor"
    text = TextTokenizer.load(tokenizer_path)
    digest = hashlib.sha256()
    for info in list_datasets(BUNDLED_DIR / "prompts"):
        spaces = [
            deserialize_space(info.metadata[key]) for key in ("observation_space", "action_space")
        ]
        tokenizer = TimestepTokenizer(*spaces, config.layout, text)
        episode = next(read_episodes(info.path / "data", info.task_id, [0]))
        observations = {key: value[:20] for key, value in episode.observations.items()}
        batch = tokenizer.encode_episode(observations, episode.actions[:20])
        if info.task_id.startswith("atari-"):  # 80 x 64 frames: row edges differ by rule
            expected = ATARI_ROW_EDGES[config.layout.patch_position_rounding]
            assert batch.patch_row_interval[:20:4, 1].tolist() == expected
        for name in sorted(vars(batch)):
            array = np.ascontiguousarray(getattr(batch, name))
            digest.update(f"{name} {array.dtype} {array.shape}".encode())
            digest.update(array.tobytes())
    assert digest.hexdigest() == TOKENS_SHA256[model]


def test_a_layouts_patch_rule_survives_save_and_load(tmp_path):
    from dataclasses import replace

    for rounding in ("floor", "nearest"):
        layout = replace(TEST_LAYOUT, patch_position_rounding=rounding)
        model = make_model(layers=1, layout=layout)
        _, config, _ = load_checkpoint(save_checkpoint(model, tmp_path / rounding))
        assert config.layout.patch_position_rounding == rounding
