"""What defines a training run: `TrainSettings`, their checks, and `TrainResult`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from gato_eval.core.errors import GatoEvalError, check_choice

OPTIMIZERS = ("adamw", "adam")
MAX_BATCH_SIZE = 65_536  # sequences per step (the paper: 512)
MAX_CONTEXT_LENGTH = 65_536  # tokens per sequence (the paper: 1024)
MAX_THREADS = 1024
MAX_PROCESSES = 64
SCHEDULES = ("cosine", "constant")
# Settings that change nothing about what is computed: a resumed run may change them.
RUNTIME_SETTINGS = frozenset(
    {"out", "device", "eval_every", "eval_batches", "checkpoint_every", "keep_checkpoints",
     "resume", "threads", "processes"}
)  # fmt: skip


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a training run (recorded in its checkpoints).

    preset / context_length / dropout: the model (a preset with overrides), unless `init`
    names a checkpoint to start from. mixture: a mixture string or file. steps, batch_size
    (sequences per step), lr (peak), warmup (steps), schedule (`cosine` or `constant`),
    optimizer (`adamw` or `adam`), weight_decay (AdamW), grad_clip (max global norm; 0 turns
    it off). eval_every / checkpoint_every: in steps (0 turns them off; the last step always
    checkpoints). The data options are those of `training.data.DataOptions`.
    processes: data-parallel training processes on CPU (`training.data_parallel`), a number or
    "auto" (the default: 2 where two cores are free and the step is large enough to pay,
    `auto_processes`); each takes its share of every batch, so the run computes the same steps
    (losses equal up to float summation order) and a resumed run repeats an uninterrupted one
    with as many (the number chosen is recorded; `--resume` keeps it).
    action_smoothing: sigma, in bins, of the Gaussian label smoothing of continuous-action
    targets (`model.loss.smoothed_target_loss`); 0 is the paper's plain cross-entropy. The
    default, 10 bins (0.02 of a [-1, 1] action), cut the held-back action loss on cartpole from
    6.07 to 5.09 nats after 0.7M tokens (results/training_experiments.md).
    position_bias: the model's attention position bias (`model.config.POSITION_BIASES`; None:
    the preset's, "none" for all presets, the paper's Gato); "alibi" is a documented deviation.
    """

    out: Path
    preset: str = "gato-tiny"
    mixture: str = "all"
    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 100
    schedule: str = "cosine"
    optimizer: str = "adamw"
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    eval_every: int = 200
    eval_batches: int = 4
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    context_length: int | None = None
    dropout: float | None = None
    init: Path | None = None
    eval_fraction: float = 0.05
    text_characters: int = 3_000_000
    caption_examples: int = 100_000
    prompt_probability: float = 0.25
    prompt_fraction: float = 0.5
    action_smoothing: float = 10.0  # bins; results/training_experiments.md (#20)
    position_bias: str | None = None
    resume: bool = False
    threads: int | None = None
    processes: int | Literal["auto"] = "auto"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        data["init"] = str(self.init) if self.init is not None else None
        return data


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports: where the model is, and its last numbers."""

    out: Path
    steps: int
    tokens_seen: int
    final_loss: float | None
    final_eval_loss: float | None
    wall_s: float


def check_settings(settings: TrainSettings) -> None:
    """One clear error for any setting a user could get wrong."""
    positive = {"steps": settings.steps, "batch_size": settings.batch_size}
    for name, value in positive.items():
        if value < 1:
            raise GatoEvalError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    non_negative = {
        "seed": settings.seed,
        "warmup": settings.warmup,
        "eval_every": settings.eval_every,
        "checkpoint_every": settings.checkpoint_every,
        "keep_checkpoints": settings.keep_checkpoints,
        "eval_batches": settings.eval_batches,
    }
    for name, value in non_negative.items():
        if value < 0:
            raise GatoEvalError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
    for name in ("lr", "weight_decay", "grad_clip", "action_smoothing"):
        value = getattr(settings, name)
        if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
            raise GatoEvalError(f"--{name.replace('_', '-')} must be a finite number > 0")
    check_choice(settings.optimizer, OPTIMIZERS, "optimizer")
    check_choice(settings.schedule, SCHEDULES, "schedule")
    if settings.position_bias is not None:
        from gato_eval.model.config import POSITION_BIASES

        check_choice(settings.position_bias, POSITION_BIASES, "position bias")
    if not 0.0 <= settings.eval_fraction < 1.0:
        raise GatoEvalError(f"eval_fraction must be in [0, 1), got {settings.eval_fraction}")
    # Absurd sizes fail fast here instead of as a numpy/torch allocation traceback minutes in.
    limits = {  # threads 0 means torch's default
        "batch_size": (settings.batch_size, 1, MAX_BATCH_SIZE),
        "context_length": (settings.context_length, 2, MAX_CONTEXT_LENGTH),
        "threads": (settings.threads, 0, MAX_THREADS),
    }
    for name, (value, low, high) in limits.items():
        if value is not None and not low <= value <= high:
            flag = "--" + name.replace("_", "-")
            raise GatoEvalError(f"{flag} must be in [{low}, {high}], got {value}")
    parse_processes(settings.processes)
    if isinstance(settings.processes, int) and settings.processes > settings.batch_size:
        raise GatoEvalError(
            f"--processes {settings.processes} exceeds --batch-size {settings.batch_size}: each "
            "process trains on its share of the batch's rows"
        )


def parse_processes(value: Any) -> int | Literal["auto"]:
    """`--processes` as given ("auto", "2", 2) -> "auto" or an int in [1, MAX_PROCESSES]."""
    if value == "auto":
        return "auto"
    text = str(value).strip()
    if not isinstance(value, bool) and text.isdigit() and 1 <= int(text) <= MAX_PROCESSES:
        return int(text)
    raise GatoEvalError(
        f"--processes must be auto or a number in [1, {MAX_PROCESSES}], got {value!r}"
    )


def check_resume_settings(
    state: dict[str, Any], settings: TrainSettings, where: Path, init_sha256: str | None = None
) -> None:
    """Refuse to resume a run whose recorded settings (`state["settings"]` of its checkpoint)
    differ (runtime settings may change). `init` is the same model when its weights are: a
    checkpoint that recorded the init's sha256 resumes with the model at another path (a
    results directory moved, or given relatively instead of absolutely)."""
    recorded, current = state["settings"], settings.to_dict()
    changed = [n for n in defining_settings() if n in recorded and recorded[n] != current[n]]
    if "init" in changed and init_sha256 is not None and state.get("init_sha256") == init_sha256:
        changed.remove("init")
    if changed:
        details = ", ".join(f"{n}: {recorded[n]!r} -> {current[n]!r}" for n in changed)
        raise GatoEvalError(
            f"cannot resume {where}: settings differ from the checkpoint's ({details}); "
            "resume with the same settings, or start a new --out"
        )


def defining_settings() -> list[str]:
    """Names of the settings a checkpoint fixes (all but RUNTIME_SETTINGS), in field order."""
    return [f.name for f in fields(TrainSettings) if f.name not in RUNTIME_SETTINGS]
