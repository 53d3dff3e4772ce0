"""Checkpoint directories: save, load (never unpickling anything) and hash.

A checkpoint is a directory:

    config.json         {"format": "gato-eval-checkpoint", "format_version": 1,
                         "model": GatoConfig.to_dict() (with the token layout),
                         "tokenizer": "<name>.model" or null,
                         "files": {file name: sha256 hex} of the weights and tokenizer,
                         "provenance": whatever the trainer recorded (data, steps, code version),
                         "num_parameters": int, "gato_eval_version": str}
    model.safetensors   the state dict (float32), safetensors only
    <name>.model        the SentencePiece model, copied in (absent for models without text)

Other files (a trainer's optimizer state, say) may sit beside these; they are neither read nor
hashed. Loading checks every listed file against its recorded sha256, so a truncated or
corrupted file, a shape or layout mismatch, an unknown preset or a malformed config is one
`GatoEvalError` naming the file, and `checkpoint_hash` identifies exactly what was evaluated.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from gato_eval import __version__
from gato_eval.core import durable
from gato_eval.core.durable import write_json_atomic
from gato_eval.core.errors import GatoEvalError
from gato_eval.model.config import GatoConfig, count_parameters
from gato_eval.model.device import resolve_device
from gato_eval.model.transformer import GatoModel
from gato_eval.tokenizer.layout import TokenLayout

CHECKPOINT_FORMAT = "gato-eval-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_checkpoint(
    model: GatoModel,
    directory: str | os.PathLike,
    tokenizer_path: str | os.PathLike | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write `model` (and a copy of its SentencePiece model) as a checkpoint directory.

    Each file is replaced atomically and config.json goes last, so an interrupted save is
    detected at load (hash mismatch) rather than half-loaded. Returns the directory.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    try:  # to plain JSON now, so that a bad value fails before any file is written
        provenance = json.loads(json.dumps(dict(provenance or {}), default=_json_safe))
    except (TypeError, ValueError) as err:
        raise GatoEvalError(f"checkpoint provenance is not JSON-serializable: {err}") from None
    if directory.exists() and not directory.is_dir():
        raise GatoEvalError(f"{directory} exists and is not a directory")
    tokenizer_name = None
    if tokenizer_path is not None:
        tokenizer_path = Path(tokenizer_path)
        _check_tokenizer(tokenizer_path, model.config.layout)
        tokenizer_name = tokenizer_path.name
        if tokenizer_name in (CONFIG_FILE, WEIGHTS_FILE):
            raise GatoEvalError(f"tokenizer file may not be called {tokenizer_name}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            name: tensor.detach().to("cpu").contiguous()
            for name, tensor in model.state_dict().items()
        }
        weights = directory / WEIGHTS_FILE
        temporary = directory / f".{WEIGHTS_FILE}.tmp"
        # One metadata key: safetensors writes the map in a per-process random order, so with
        # two keys the same weights hashed differently from one process to the next.
        save_file(tensors, temporary, metadata={"format": "pt"})
        os.replace(temporary, weights)
        files = {WEIGHTS_FILE: file_sha256(weights)}
        if tokenizer_name is not None:
            target = directory / tokenizer_name
            if not (target.exists() and target.samefile(tokenizer_path)):
                temporary = directory / f".{tokenizer_name}.tmp"
                shutil.copyfile(tokenizer_path, temporary)
                os.replace(temporary, target)
            files[tokenizer_name] = file_sha256(target)
    except OSError as err:
        raise GatoEvalError(f"cannot write checkpoint {directory}: {err.strerror}") from None
    document = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model": model.config.to_dict(),
        "tokenizer": tokenizer_name,
        "files": files,
        "provenance": provenance,
        "num_parameters": count_parameters(model.config),
        "gato_eval_version": __version__,
    }
    write_json_atomic(directory / CONFIG_FILE, document)
    return directory


def load_checkpoint(
    directory: str | os.PathLike,
    device: str | torch.device = "cpu",
    layout: TokenLayout | None = None,
) -> tuple[GatoModel, GatoConfig, Path | None]:
    """Load a checkpoint directory -> (eval-mode model on `device`, config, tokenizer path).

    `layout`, when given, must equal the checkpoint's token layout. Only JSON and safetensors
    are parsed: nothing is ever unpickled. Any problem is one `GatoEvalError` naming the file.
    """
    target = resolve_device(device)  # before any reading: a missing GPU fails fast
    directory = _checkpoint_directory(Path(directory))
    config_path = directory / CONFIG_FILE
    document = _read_config(config_path)
    try:
        config = GatoConfig.from_dict(document["model"])
    except GatoEvalError as err:
        raise GatoEvalError(f"{config_path}: {err}") from None
    if layout is not None and config.layout != layout:
        raise GatoEvalError(
            f"{config_path}: the checkpoint's token layout {config.layout.to_dict()} differs "
            f"from the expected {layout.to_dict()}"
        )
    files = document["files"]
    for name in files:
        if not (directory / name).is_file():
            raise GatoEvalError(f"{directory / name} is missing (listed in {config_path})")
    weights = directory / WEIGHTS_FILE
    _refuse_pickle(weights)
    tensors = _read_weights(weights, config)  # structure first: names truncation as such
    for name, digest in files.items():
        if file_sha256(directory / name) != digest:
            raise GatoEvalError(
                f"{directory / name} is corrupted or was modified: its sha256 differs from "
                f"the one recorded in {config_path}"
            )
    tokenizer_path = None
    if document["tokenizer"] is not None:
        tokenizer_path = directory / document["tokenizer"]
        _check_tokenizer(tokenizer_path, config.layout)
    model = _build_model(config, tensors)
    return model.to(target).eval(), config, tokenizer_path


def checkpoint_hash(directory: str | os.PathLike) -> str:
    """'sha256:<hex>' over config.json and every file it lists (name and sha256 of each)."""
    directory = _checkpoint_directory(Path(directory))
    document = _read_config(directory / CONFIG_FILE)
    digest = hashlib.sha256()
    for name in sorted([CONFIG_FILE, *document["files"]]):
        path = directory / name
        if not path.is_file():
            raise GatoEvalError(f"{path} is missing (listed in {directory / CONFIG_FILE})")
        digest.update(f"{name}\0{file_sha256(path)}\n".encode())
    return f"sha256:{digest.hexdigest()}"


_file_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, memoized on (path, size, mtime) so load + hash read it once."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _file_hashes:
        _file_hashes[key] = durable.file_sha256(path)
    return _file_hashes[key]


def _checkpoint_directory(path: Path) -> Path:
    """The checkpoint directory for `path` (a file inside one is accepted); others refused."""
    if not path.exists():
        raise GatoEvalError(f"checkpoint {path} does not exist")
    if path.is_file():
        if path.name in (CONFIG_FILE, WEIGHTS_FILE) and (path.parent / CONFIG_FILE).is_file():
            return path.parent
        _refuse_pickle(path)
        raise GatoEvalError(
            f"{path} is a file, not a gato-eval checkpoint directory "
            f"({CONFIG_FILE} + {WEIGHTS_FILE})"
        )
    if not (path / CONFIG_FILE).is_file():
        raise GatoEvalError(f"{path} is not a gato-eval checkpoint: {CONFIG_FILE} is missing")
    return path


def _refuse_pickle(path: Path) -> None:
    """Name pickles and torch.save archives for what they are; they are never opened further."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        kind = "a Python pickle"
    elif head == b"PK\x03\x04":
        kind = "a zip archive (torch.save format, which holds a pickle)"
    else:
        return
    raise GatoEvalError(
        f"{path} is {kind}: gato-eval never unpickles checkpoints (arbitrary code could run); "
        "convert it to a checkpoint directory with model.safetensors"
    )


def _read_config(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GatoEvalError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise GatoEvalError(f"{path} is not a gato-eval checkpoint config (no 'format' field)")
    if document.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise GatoEvalError(
            f"{path}: checkpoint format version {document.get('format_version')!r} is not "
            f"supported (this gato-eval reads version {CHECKPOINT_FORMAT_VERSION})"
        )
    for key in ("model", "files", "tokenizer"):
        if key not in document:
            raise GatoEvalError(f"{path} is missing {key!r}")
    files, tokenizer = document["files"], document["tokenizer"]
    if not isinstance(files, dict) or WEIGHTS_FILE not in files:
        raise GatoEvalError(f"{path}: 'files' must list {WEIGHTS_FILE} with its sha256")
    for name, digest in files.items():
        if not isinstance(digest, str) or Path(name).name != name or name in ("", ".", ".."):
            raise GatoEvalError(f"{path}: bad entry in 'files': {name!r}: {digest!r}")
    if tokenizer is not None and tokenizer not in files:
        raise GatoEvalError(f"{path}: tokenizer {tokenizer!r} is not listed in 'files'")
    return document


def _read_weights(path: Path, config: GatoConfig) -> dict[str, torch.Tensor]:
    """Parse model.safetensors and check its names and shapes against `config`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise GatoEvalError(f"{path} is truncated or corrupted ({err})") from None
    # Even on the meta device a model costs time and memory per layer: a config.json claiming
    # a million layers would hang here (and then exhaust memory) before any shape is compared.
    blocks = {name.split(".")[1] for name in tensors if name.startswith("blocks.")}
    if len(blocks) != config.num_layers:
        raise GatoEvalError(
            f"{path} holds {len(blocks)} transformer blocks but {CONFIG_FILE} says "
            f"num_layers={config.num_layers}"
        )
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in GatoModel(config).state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise GatoEvalError(
            f"{path} does not hold a {config.name} model: missing tensors {missing[:3]}, "
            f"unexpected tensors {unexpected[:3]}"
        )
    for name, shape in expected.items():
        tensor = tensors[name]
        if tuple(tensor.shape) != shape:
            hint = (
                f" (token layout {config.layout.name!r} has {config.vocab_size} ids)"
                if name == "embedding.token.weight"
                else ""
            )
            raise GatoEvalError(
                f"{path}: tensor {name} has shape {tuple(tensor.shape)} but the config in "
                f"{CONFIG_FILE} needs {shape}{hint}"
            )
        if not tensor.is_floating_point() or not bool(torch.isfinite(tensor).all()):
            raise GatoEvalError(f"{path}: tensor {name} is not finite floating point")
    return tensors


def _build_model(config: GatoConfig, tensors: dict[str, torch.Tensor]) -> GatoModel:
    # Built on the meta device and given the loaded tensors: no time spent on a random init.
    with torch.device("meta"):
        model = GatoModel(config)
    tensors = {name: t.to(torch.float32) for name, t in tensors.items()}
    model.load_state_dict(tensors, strict=True, assign=True)
    return model


def _check_tokenizer(path: Path, layout: TokenLayout) -> None:
    """The SentencePiece file must load and have exactly the layout's text vocabulary."""
    import sentencepiece

    if not path.is_file():
        raise GatoEvalError(f"tokenizer {path} does not exist")
    try:
        processor = sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as err:
        raise GatoEvalError(f"{path} is not a SentencePiece model ({err})") from None
    if processor.get_piece_size() != layout.text_vocab_size:
        raise GatoEvalError(
            f"{path} has {processor.get_piece_size()} pieces but token layout "
            f"{layout.name!r} has {layout.text_vocab_size} text ids"
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return value.item() if getattr(value, "ndim", 1) == 0 else value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
