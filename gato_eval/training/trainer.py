"""The training loop behind `gato_eval.training.train`: set up, step, evaluate, checkpoint, resume.

See `training/train.py` for what one step does and how resuming stays exact. This module loads
torch and the model, so `gato_eval.training.train` imports it only when a run starts.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from gato_eval.core.errors import GatoEvalError
from gato_eval.core.locks import lock_directory
from gato_eval.core.provenance import code_provenance
from gato_eval.corpus.mixtures import DataCatalog, resolve_mixture
from gato_eval.model.checkpoint import checkpoint_hash, load_checkpoint, save_checkpoint
from gato_eval.model.config import get_preset
from gato_eval.model.device import autocast_for, resolve_device
from gato_eval.model.loss import SmoothedTargetLoss
from gato_eval.model.transformer import GatoModel
from gato_eval.suites.registry import all_tasks, get_suite
from gato_eval.training.checkpoints import (
    checkpoint_path,
    find_resume_point,
    list_checkpoints,
    save_training_checkpoint,
    step_seed,
)
from gato_eval.training.data import (
    TOKENIZER_FILE,
    DataOptions,
    data_identity,
    prepare_training_data,
)
from gato_eval.training.evaluation import held_back_losses
from gato_eval.training.optim import (
    learning_rate_at,
    make_adam,
    make_adamw,
    restore_optimizer_state,
    set_learning_rate,
)
from gato_eval.training.progress import MetricsLog, StopRequest
from gato_eval.training.settings import TrainResult


class Trainer:
    """One run: set up (fresh, resumed or from `init`), loop, checkpoint, write the model."""

    def __init__(self, settings, episodes_by_task, reporter):
        self.settings = settings
        self.out = Path(settings.out)
        self.given = episodes_by_task
        self.reporter = reporter

    # -- setup ---------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        settings = self.settings
        _lock = self._take_lock()  # one writer per --out
        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.device = resolve_device(settings.device)
        # The init model is identified by its weights: a resume may address it by another path.
        self.init_sha256 = checkpoint_hash(settings.init) if settings.init is not None else None
        resume = find_resume_point(settings, self.init_sha256, self.reporter.message)
        self.model, self.config, tokenizer_source = self._build_model(resume)
        self.tokenizer_path = self.out / TOKENIZER_FILE
        self._place_tokenizer(tokenizer_source)
        self.data = self._prepare_data(self._resolve_mixture())
        self.model.to(self.device).train()
        self.optimizer = self._build_optimizer()
        self.step = 0
        self.tokens_seen = 0
        self.wall_before = 0.0
        if resume is not None:
            self._restore(resume)
        eval_names = list(self.data.eval.names) if self.data.eval is not None else []
        self.metrics = self._open_metrics(eval_names, self.step if resume else None)
        try:
            return self._loop()
        finally:
            self.metrics.close()

    def _take_lock(self):
        return lock_directory(self.out, "training output")

    def _open_metrics(self, eval_names: list[str], resume_step: int | None) -> MetricsLog:
        return MetricsLog(self.out, eval_names, resume_step)

    def _prepare_data(self, mixture):
        settings = self.settings
        return prepare_training_data(
            mixture,
            self.config.layout,
            DataOptions(
                context_length=self.config.context_length,
                seed=settings.seed,
                eval_fraction=settings.eval_fraction,
                text_characters=settings.text_characters,
                caption_examples=settings.caption_examples,
                prompt_probability=settings.prompt_probability,
                prompt_fraction=settings.prompt_fraction,
            ),
            self.tokenizer_path,
            episodes_by_task=self.given,
            log=self.reporter.message,
        )

    def _build_model(self, resume):
        """(model, config, SentencePiece file to use or None) for a resumed, initialized or
        fresh run."""
        settings = self.settings
        if resume is not None:
            model, config, tokenizer = load_checkpoint(resume.path)
            return model, config, tokenizer
        if settings.init is not None:
            model, config, tokenizer = load_checkpoint(settings.init)
            wanted = settings.context_length
            if wanted is not None and wanted != config.context_length:
                raise GatoEvalError(
                    f"--context-length {wanted} differs from the context of {settings.init} "
                    f"({config.context_length}); a model is fine-tuned at its own context"
                )
            bias = settings.position_bias
            if bias is not None and bias != config.position_bias:
                raise GatoEvalError(
                    f"--position-bias {bias} differs from that of {settings.init} "
                    f"({config.position_bias}); a model is fine-tuned with its own"
                )
            if settings.dropout is not None and settings.dropout != config.dropout:
                config = replace(config, dropout=settings.dropout)
                state = model.state_dict()
                model = GatoModel(config)
                model.load_state_dict(state)
            return model, config, tokenizer
        overrides = {}
        if settings.context_length is not None:
            overrides["context_length"] = settings.context_length
        if settings.dropout is not None:
            overrides["dropout"] = settings.dropout
        if settings.position_bias is not None:
            overrides["position_bias"] = settings.position_bias
        config = get_preset(settings.preset, **overrides)
        torch.manual_seed(step_seed(settings.seed, -1))  # the initialization's own stream
        return GatoModel(config), config, None

    def _place_tokenizer(self, source: Path | None) -> None:
        """The run's SentencePiece model lives at OUT/text.model: copied from the checkpoint it
        starts from, or trained there by the data preparation."""
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # --out is a file, or somewhere nothing can be written
            raise GatoEvalError(f"cannot write to --out {self.out}: {err.strerror}") from None
        if source is None:
            if self.tokenizer_path.exists():
                self.tokenizer_path.unlink()  # a leftover of a run that died before step 1
            return
        if source.resolve() != self.tokenizer_path.resolve():
            shutil.copyfile(source, self.tokenizer_path)

    def _resolve_mixture(self):
        if self.given is None:
            return resolve_mixture(self.settings.mixture)
        catalog = DataCatalog(
            families={spec.task_id: spec.family for spec in all_tasks()},
            with_data=frozenset(self.given),
            heldout=frozenset(get_suite("heldout").tasks),
        )
        return resolve_mixture(self.settings.mixture, catalog)

    def _build_optimizer(self):
        if self.settings.optimizer == "adam":
            return make_adam(self.model, self.settings.lr)
        return make_adamw(self.model, self.settings.lr, self.settings.weight_decay)

    def _restore(self, checkpoint) -> None:
        state = checkpoint.state
        recorded = state.get("data", {})
        current = data_identity(self.data.provenance)
        if recorded != current:
            raise GatoEvalError(
                f"{checkpoint.path}: the training data changed since this checkpoint (mixture "
                "or data set sizes differ), so the run cannot resume exactly; start a new --out"
            )
        restore_optimizer_state(
            self.model,
            self.optimizer,
            checkpoint.optimizer_tensors,
            state["optimizer"],
            checkpoint.path,
        )
        self.step = checkpoint.step
        self.tokens_seen = int(state["tokens_seen"])
        self.wall_before = float(state["wall_s"])

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> TrainResult:
        settings = self.settings
        eval_batches = self._evaluation_batches()
        self.started = time.perf_counter()
        loss_value = eval_loss = None
        self.reporter.start(self.step, settings.steps)
        try:
            with StopRequest() as self.stop:
                while self.step < settings.steps:
                    loss_value, eval_loss = self._one_step(eval_batches, loss_value, eval_loss)
                    if self._stopping():
                        break
            if self._stopping():
                if list_checkpoints(self.out)[-1:] != [self._current_checkpoint_path()]:
                    self._save_checkpoint(loss_value, eval_loss)
                self.reporter.finish()
                self.reporter.message(
                    f"interrupted: checkpoint saved at step {self.step}; continue with --resume"
                )
                raise KeyboardInterrupt
        finally:
            self.reporter.finish()
        self._write_final_model(loss_value, eval_loss)
        return TrainResult(
            out=self.out,
            steps=self.step,
            tokens_seen=self.tokens_seen,
            final_loss=loss_value,
            final_eval_loss=eval_loss,
            wall_s=self._wall(),
        )

    def _one_step(self, eval_batches, loss_value, eval_loss):
        """Train step `self.step`, then log, evaluate and checkpoint as the settings say."""
        settings = self.settings
        step = self.step
        lr = self._learning_rate(step)
        batch, infos = self.data.train.sample_batch(step, settings.batch_size)
        tick = time.perf_counter()
        ordinal = [info.source in self.data.ordinal_sources for info in infos]
        loss_value, grad_norm = self._train_step(batch, ordinal, lr, step)
        tokens = int(batch.valid.sum())
        self.tokens_seen += tokens
        self.step = step + 1
        row = {
            "step": self.step,
            "lr": lr,
            "loss": loss_value,
            "grad_norm": grad_norm,
            "tokens": tokens,
            "tokens_seen": self.tokens_seen,
            "tokens_per_s": tokens / max(time.perf_counter() - tick, 1e-9),
            "wall_s": self._wall(),
        }
        last = self.step == settings.steps
        if eval_batches and (last or self.step % settings.eval_every == 0):
            losses = self._evaluate(eval_batches)
            eval_loss = losses["eval_loss"]
            row.update(losses)
        self.metrics.append(row)
        self.reporter.step(row)
        every = settings.checkpoint_every
        if last or (every and self.step % every == 0):
            self._save_checkpoint(loss_value, eval_loss)
        return loss_value, eval_loss

    def _learning_rate(self, step: int) -> float:
        s = self.settings
        if s.schedule == "constant":
            return s.lr if s.warmup <= step else s.lr * (step + 1) / s.warmup
        return learning_rate_at(step, s.lr, s.warmup, s.steps)

    def _stopping(self) -> bool:
        """Whether the loop stops after this step (Ctrl-C)."""
        return self.stop.requested

    def _train_step(self, batch, ordinal, lr: float, step: int) -> tuple[float, float]:
        """One optimizer step; `ordinal` (B,) marks rows of continuous-action tasks."""
        set_learning_rate(self.optimizer, lr)
        torch.manual_seed(step_seed(self.settings.seed, step))
        loss = self._loss(batch, ordinal)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = self._reduce(float(loss.detach()))
        if not math.isfinite(value):
            raise GatoEvalError(
                f"the training loss became {value} at step {step + 1}: lower --lr or raise "
                "--warmup (no checkpoint was written for this step)"
            )
        if self.settings.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        else:
            norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in self.model.parameters() if p.grad is not None])
            )
        self.optimizer.step()
        return value, float(norm)

    def _loss(self, batch, ordinal):
        """The scalar loss of `batch` (a TokenBatch); `ordinal`: bool per row."""
        tensors = batch.to_torch(self.device)
        ordinal_rows = torch.tensor(ordinal, dtype=torch.bool, device=self.device)
        with autocast_for(self.device):
            return self._loss_module()(tensors, ordinal_rows)

    def _loss_module(self) -> torch.nn.Module:
        """What computes the loss of a batch's tensors: (tensors, ordinal rows) -> scalar."""
        return SmoothedTargetLoss(self.model, self.settings.action_smoothing)

    def _reduce(self, value: float) -> float:
        """The step's loss and gradients over the whole batch (here: as computed)."""
        return value

    def _evaluation_batches(self):
        """The fixed held-back batches every evaluation scores (the same ones each time)."""
        if self.data.eval is None or not self.settings.eval_every or not self.settings.eval_batches:
            return []
        size = self.settings.batch_size
        return [self.data.eval.sample_batch(k, size) for k in range(self.settings.eval_batches)]

    def _evaluate(self, batches) -> dict[str, float]:
        return held_back_losses(self.model, batches, self.device)

    # -- saving --------------------------------------------------------------------------------

    def _wall(self) -> float:
        return self.wall_before + (time.perf_counter() - self.started)

    def _current_checkpoint_path(self):
        return checkpoint_path(self.out, self.step)

    def _provenance(self, loss: float | None, eval_loss: float | None) -> dict[str, Any]:
        device = str(self.device)
        if self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)}, bf16 autocast)"
        return {
            "kind": "finetuning" if self.settings.optimizer == "adam" else "pretraining",
            "model": self.config.name,
            "init": str(self.settings.init) if self.settings.init is not None else None,
            "settings": self.settings.to_dict(),
            "data": self.data.provenance,
            "step": self.step,
            "steps": self.settings.steps,
            "tokens_seen": self.tokens_seen,
            "seed": self.settings.seed,
            "final_loss": loss,
            "final_eval_loss": eval_loss,
            "wall_s": round(self._wall(), 2),
            "device": device,
            "code": code_provenance(),
        }

    def _save_checkpoint(self, loss, eval_loss) -> None:
        state = {
            "settings": self.settings.to_dict(),
            "init_sha256": self.init_sha256,
            "tokens_seen": self.tokens_seen,
            "wall_s": self._wall(),
            "data": data_identity(self.data.provenance),
            "sampler": {"seed": self.settings.seed, "next_step": self.step},
            "rng": "per step: torch.manual_seed(step_seed(seed, step)); batches from "
            "numpy default_rng([seed, stream, step])",
        }
        save_training_checkpoint(
            self.out,
            self.step,
            self.model,
            self.optimizer,
            self.tokenizer_path,
            self._provenance(loss, eval_loss),
            state,
            keep=max(self.settings.keep_checkpoints, 1),
        )
        self.metrics.sync()

    def _write_final_model(self, loss, eval_loss) -> None:
        save_checkpoint(
            self.model,
            self.out,
            tokenizer_path=self.tokenizer_path,
            provenance=self._provenance(loss, eval_loss),
        )
