"""Training checkpoints: a model checkpoint plus what resuming exactly needs, saved atomically.

    OUT/checkpoints/step-00000500/
        config.json, model.safetensors, text.model   the model engineer's checkpoint format, so
                                                     `gato-eval run --model` loads it as it is
        optimizer.safetensors                        AdamW/Adam moments and step counts, keyed by
                                                     parameter name (no pickle)
        trainer_state.json                           step, tokens seen, wall time, settings,
                                                     sampler state, optimizer hyperparameters and
                                                     the sha256 of optimizer.safetensors

A checkpoint is written into a hidden temporary directory and renamed into place, so a crash
mid-save leaves the previous checkpoint intact and never a half-written one under a real name.
The newest `keep` checkpoints stay; older ones are removed after a new one lands.
`find_resume_point` picks the checkpoint a run continues from (refusing other settings), and
`settings_from_options` fills the options a `--resume` leaves out from that run's record.

Random state: nothing is carried from step to step. Batch k is drawn from
`default_rng([seed, stream, k])` and the model's randomness (dropout, patch-position sampling)
from `torch.manual_seed(step_seed(seed, k))` set before step k, so the sampler and RNG state of a
checkpoint is its step number, and a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gato_eval.core.durable import fsync_directory, write_json_atomic
from gato_eval.core.errors import GatoEvalError
from gato_eval.training.settings import TrainSettings, check_resume_settings, defining_settings

CHECKPOINTS_DIR = "checkpoints"
TRAINER_STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_STATE_FORMAT = "gato-eval-trainer-state"
TRAINER_STATE_VERSION = 1
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def step_seed(seed: int, step: int) -> int:
    """The torch seed of training step `step`: a hash of (seed, step) in [0, 2**63)."""
    digest = hashlib.sha256(f"gato-eval-train:{int(seed)}:{int(step)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass
class TrainingCheckpoint:
    """A loaded training checkpoint: its directory, trainer state and optimizer tensors."""

    path: Path
    state: dict[str, Any]
    optimizer_tensors: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])


def checkpoint_path(out: Path, step: int) -> Path:
    return Path(out) / CHECKPOINTS_DIR / f"step-{step:08d}"


def list_checkpoints(out: Path) -> list[Path]:
    """Complete checkpoint directories under `out`, oldest first."""
    root = Path(out) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [
        path
        for path in root.iterdir()
        if _STEP_DIR.match(path.name) and (path / TRAINER_STATE_FILE).is_file()
    ]
    return sorted(found, key=lambda path: path.name)


def save_training_checkpoint(
    out: Path,
    step: int,
    model,
    optimizer,
    tokenizer_path: Path | None,
    provenance: dict[str, Any],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint `step` atomically (see the module docstring) and prune old ones."""
    from safetensors.torch import save_file

    from gato_eval.model.checkpoint import file_sha256, save_checkpoint
    from gato_eval.training.optim import optimizer_state_tensors

    final = checkpoint_path(out, step)
    temporary = final.with_name(f".{final.name}.tmp")
    try:
        if temporary.exists():
            shutil.rmtree(temporary)  # the remains of a save that crashed
        temporary.mkdir(parents=True)
        save_checkpoint(model, temporary, tokenizer_path=tokenizer_path, provenance=provenance)
        tensors, optimizer_meta = optimizer_state_tensors(model, optimizer)
        save_file(tensors, temporary / OPTIMIZER_FILE, metadata={"producer": "gato-eval"})
        document = {
            "format": TRAINER_STATE_FORMAT,
            "format_version": TRAINER_STATE_VERSION,
            **state,
            "step": int(step),
            "optimizer": {
                "file": OPTIMIZER_FILE,
                "sha256": file_sha256(temporary / OPTIMIZER_FILE),
                **optimizer_meta,
            },
        }
        write_json_atomic(temporary / TRAINER_STATE_FILE, document)
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        fsync_directory(final.parent)
    except OSError as err:
        raise GatoEvalError(f"cannot write the checkpoint {final}: {err}") from None
    for old in list_checkpoints(out)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_training_checkpoint(path: Path) -> TrainingCheckpoint:
    """Read a checkpoint's trainer state and optimizer tensors (the model is loaded apart).

    Every problem (missing file, wrong format, corrupted optimizer file) is one GatoEvalError
    naming the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gato_eval.model.checkpoint import file_sha256

    state = read_trainer_state(path)
    state_path = Path(path) / TRAINER_STATE_FILE
    optimizer_path = Path(path) / OPTIMIZER_FILE
    if not optimizer_path.is_file():
        raise GatoEvalError(f"{optimizer_path} is missing")
    if file_sha256(optimizer_path) != state["optimizer"].get("sha256"):
        raise GatoEvalError(
            f"{optimizer_path} is corrupted or was modified: its sha256 differs from the one "
            f"recorded in {state_path}"
        )
    try:
        tensors = load_file(optimizer_path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise GatoEvalError(f"{optimizer_path} is truncated or corrupted ({err})") from None
    return TrainingCheckpoint(path=Path(path), state=state, optimizer_tensors=tensors)


def read_trainer_state(path: Path) -> dict[str, Any]:
    """The checked trainer_state.json of checkpoint directory `path` (JSON only)."""
    state_path = Path(path) / TRAINER_STATE_FILE
    try:
        state = json.loads(state_path.read_text())
    except FileNotFoundError:
        raise GatoEvalError(
            f"{state_path} is missing: {path} is not a training checkpoint"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GatoEvalError(f"{state_path} is not valid JSON: {err}") from None
    if not isinstance(state, dict) or state.get("format") != TRAINER_STATE_FORMAT:
        raise GatoEvalError(f"{state_path} is not a gato-eval trainer state")
    if state.get("format_version") != TRAINER_STATE_VERSION:
        raise GatoEvalError(
            f"{state_path}: trainer state version {state.get('format_version')!r} is not "
            f"supported (this gato-eval reads version {TRAINER_STATE_VERSION})"
        )
    for key in ("step", "settings", "optimizer", "tokens_seen", "wall_s"):
        if key not in state:
            raise GatoEvalError(f"{state_path} is missing {key!r}")
    return state


def find_resume_point(settings, init_sha256: str | None, message) -> TrainingCheckpoint | None:
    """The checkpoint a run of `settings` (`training.settings.TrainSettings`) continues from in
    its `out`, or None for a new run; `message(text)` is told what happens. One-line errors for
    an `out` that holds a finished model, a run not asked to `resume`, or one whose settings
    differ (`init_sha256`: the init model's, which may have moved: `check_resume_settings`)."""
    out = Path(settings.out)
    existing = list_checkpoints(out)
    finished = (out / "config.json").is_file()
    if not existing:
        if finished:
            raise GatoEvalError(
                f"{out} already holds a finished model and no training checkpoint to resume: "
                "choose another --out"
            )
        if settings.resume:
            message(f"nothing to resume in {out}: starting a new run")
        return None
    if not settings.resume and finished:
        raise GatoEvalError(
            f"{out} already holds a finished training run (up to {existing[-1].name}): "
            "choose another --out"
        )
    if not settings.resume:
        raise GatoEvalError(
            f"{out} already holds a training run (checkpoint {existing[-1].name}): pass "
            "--resume to continue it, or choose another --out"
        )
    checkpoint = load_training_checkpoint(existing[-1])
    check_resume_settings(checkpoint.state, settings, checkpoint.path, init_sha256=init_sha256)
    message(f"resuming from {checkpoint.path} (step {checkpoint.step})")
    return checkpoint


def settings_from_options(out: Path, resume: bool, given: dict[str, Any]) -> TrainSettings:
    """Command-line options -> settings; None means "not given".

    A value not given is the default of `TrainSettings`, or, with `resume` and a checkpoint in
    `out`, the value that run recorded (so `--resume --out DIR` alone continues a run).
    """
    values = {key: value for key, value in given.items() if value is not None}
    existing = list_checkpoints(Path(out)) if resume else []
    if existing:
        recorded = read_trainer_state(existing[-1])["settings"]
        names = defining_settings()
        base = {key: value for key, value in recorded.items() if key in names}
        # Runs recorded before label smoothing existed trained with plain cross-entropy.
        base.setdefault("action_smoothing", 0.0)
        if base.get("init") is not None:
            base["init"] = Path(base["init"])
        values = {**base, **values}
        # As many processes as the run had, unless told otherwise (the same float sums).
        if "processes" not in values and "processes" in recorded:
            values["processes"] = recorded["processes"]
    return TrainSettings(out=Path(out), resume=resume, **values)
