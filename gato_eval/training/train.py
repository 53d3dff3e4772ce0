"""Pretraining and fine-tuning Gato models: `train(settings)` and `finetune(...)`.

One loop serves both (paper App. C.4 and Sec. 5.2, GATO.md sections 2 and 6):

| setting     | pretraining (`gato-eval train`)          | fine-tuning (`finetune`)              |
|-------------|------------------------------------------|---------------------------------------|
| data        | a mixture (`gato_eval.corpus.mixtures`)    | N demonstrations of one task          |
| optimizer   | AdamW (0.9, 0.95), weight decay 0.1      | Adam                                  |
| schedule    | linear warmup, cosine decay to 10%       | constant learning rate                |
| start       | a preset, randomly initialized           | a checkpoint, or a preset (scratch)   |

Each step: draw batch `step` (`SequenceSampler`, a pure function of seed and step), seed torch
with `step_seed(seed, step)` (dropout, patch positions), forward under the device's autocast
(bf16 on CUDA, fp32 on CPU), the loss on action and text targets with the LM head run only
there and continuous-action bins smoothed (`model.loss.smoothed_target_loss`), backward, clip
the gradient norm, step. Every `eval_every` steps the loss over fixed held-back batches is logged;
every `checkpoint_every` steps a training checkpoint is saved (`training/checkpoints.py`), and
`--resume` continues from the newest one exactly: the next step's loss equals that of a run that
never stopped (bit for bit on CPU; on CUDA to the precision of its nondeterministic kernels,
such as the embedding backward's atomic adds). The final model is written to OUT itself, in
the checkpoint format `gato-eval run --model OUT` loads, with its provenance in config.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gato_eval.core.episode import Episode
from gato_eval.training.progress import SilentReporter, TrainingReporter
from gato_eval.training.settings import TrainResult, TrainSettings, check_settings

__all__ = ["TrainResult", "TrainSettings", "finetune", "train"]


def train(
    settings: TrainSettings,
    episodes_by_task: dict[str, list[Episode]] | None = None,
    reporter: TrainingReporter | None = None,
) -> TrainResult:
    """Run (or resume) training as `settings` says; returns where the final model was written.

    episodes_by_task: episodes to train on instead of the local data sets (the mixture may
    then name only these tasks).
    """
    check_settings(settings)
    from gato_eval.training.data_parallel import run_training

    return run_training(settings, episodes_by_task, reporter or SilentReporter())


def finetune(
    task_id: str,
    episodes: list[Episode],
    out: Path,
    init: Path | None = None,
    preset: str = "gato-tiny",
    steps: int = 1000,
    lr: float = 1e-4,
    batch_size: int = 16,
    seed: int = 0,
    device: str = "auto",
    reporter: TrainingReporter | None = None,
    **overrides: Any,
) -> TrainResult:
    """Fine-tune on `episodes` of `task_id` (Sec. 5.2): Adam, constant `lr`, `steps` steps.

    init: the pretrained checkpoint to start from, or None to train `preset` from scratch. All
    episodes train (no held-back split) unless `eval_fraction` is overridden. The model is
    saved to `out`; `resume=True` continues an interrupted fine-tuning run.
    """
    options = {
        "eval_fraction": 0.0,
        "warmup": 0,
        "eval_every": 0,
        "checkpoint_every": max(steps // 4, 1),
        **overrides,
    }
    settings = TrainSettings(
        out=Path(out),
        preset=preset,
        mixture=task_id,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        schedule="constant",
        optimizer="adam",
        seed=seed,
        device=device,
        init=Path(init) if init is not None else None,
        **options,
    )
    return train(settings, {task_id: list(episodes)}, reporter)
