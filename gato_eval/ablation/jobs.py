"""The ablation's heavy jobs: pretraining a variant, fine-tuning and evaluating a cell.

A job writes only inside its own model or cell directory and returns what the runner records;
the runner (`runner.py`) stays the one process that writes the results directory's shared files
(record, rows, tables) and holds its lock. So the same job runs inline in the runner's process
(`--workers 1`) or in a worker process (`workers.py`, `--workers N`), line for line the same.

Every job resumes: pretraining and fine-tuning from their checkpoints, evaluation from its
recorded episodes, so a job cut short (Ctrl-C, a killed worker) continues on the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gato_eval.ablation import demos, pretrained
from gato_eval.ablation.evaluation import evaluate_into
from gato_eval.ablation.grid import Cell, Grid
from gato_eval.ablation.progress import AblationProgress, CollectionStage, TrainingStage
from gato_eval.training.checkpoints import list_checkpoints
from gato_eval.training.train import finetune, train


@dataclass(frozen=True)
class JobContext:
    """What every job needs of the run (picklable: it travels to worker processes)."""

    grid: Grid
    out: Path
    device: str
    threads: int | None
    argv: tuple[str, ...]


@dataclass(frozen=True)
class PretrainJob:
    """Pretrain variant `key` with pretraining `seed` into its directory of the results."""

    key: str
    seed: int | None

    def describe(self) -> str:
        return f"pretrain {pretrained.model_name(self.key, self.seed)}"


@dataclass(frozen=True)
class CellJob:
    """Fine-tune `cell` from `init` (None: scratch) on the demonstrations at `positions` of the
    held-out data set `info` (a `DatasetInfo`), then evaluate it."""

    cell: Cell
    init: Path | None
    info: Any
    positions: tuple[int, ...]

    def describe(self) -> str:
        return f"fine-tune and evaluate {self.cell.describe()}"


@dataclass(frozen=True)
class CellTimes:
    """Seconds a cell job spent fine-tuning (with loading its data) and evaluating."""

    finetune_s: float
    evaluate_s: float


def run_job(context: JobContext, job: PretrainJob | CellJob, progress: AblationProgress):
    """Run `job`: a PretrainJob returns the data sets it trained on (list of {name, episodes,
    sha256}); a CellJob returns its `CellTimes`."""
    if isinstance(job, PretrainJob):
        return _pretrain(context, job, progress)
    return _finetune_and_evaluate(context, job, progress)


def ensure_dataset(grid: Grid, task: str, episodes: int, noise: float, progress):
    """The data set of `task` the grid plans (collected when missing)."""
    stage = CollectionStage(progress)
    return demos.ensure_dataset(task, episodes, noise, grid.collection_seed, stage)


def _pretrain(context: JobContext, job: PretrainJob, progress: AblationProgress) -> list[dict]:
    grid, name = context.grid, pretrained.model_name(job.key, job.seed)
    mixture, plans = pretrained.plan_for_key(job.key, grid)
    episodes, datasets = demos.load_pretraining_episodes(
        plans, lambda task, n, noise: ensure_dataset(grid, task, n, noise, progress), progress
    )
    resolved = pretrained.check_mixture_excludes(mixture, episodes, grid.tasks)
    out = pretrained.pretrained_dir(context.out, job.key, job.seed)
    settings = pretrained.train_settings(
        job.key, grid, out, context.device, context.threads, job.seed
    )
    sources = ", ".join(c.source for c in resolved.components)
    progress.message(f"pretrain '{name}' on {sources}")
    train(settings, episodes, TrainingStage(progress, f"pretrain {name}"))
    return datasets


def _finetune_and_evaluate(context: JobContext, job: CellJob, progress) -> CellTimes:
    from gato_eval.model.checkpoint import CONFIG_FILE  # torch: loaded on call

    started = time.perf_counter()
    cell, cell_dir = job.cell, context.out / job.cell.directory
    model_dir = cell_dir / "model"
    if not (model_dir / CONFIG_FILE).is_file():
        _finetune(context, job, model_dir, progress)
    pretrained.remove_training_checkpoints(model_dir)
    finetuned = time.perf_counter()
    label = cell.describe().removeprefix(f"{cell.task} ")
    evaluate_into(
        cell_dir / "run",
        str(model_dir),
        results=context.out,
        grid=context.grid,
        task=cell.task,
        label=label,
        device=context.device,
        argv=list(context.argv),
        progress=progress,
    )
    return CellTimes(finetuned - started, time.perf_counter() - finetuned)


def _finetune(context: JobContext, job: CellJob, model_dir: Path, progress) -> None:
    cell = job.cell
    episodes = demos.read_positions(job.info, list(job.positions))
    p, f = context.grid.pretraining, context.grid.finetuning_of(cell.task)
    extra: dict[str, Any] = {
        "threads": context.threads,
        "resume": bool(list_checkpoints(model_dir)),
    }
    if job.init is None:  # scratch: the pretraining preset, fresh, with the same text tokenizer
        extra.update(
            context_length=p.context_length,
            position_bias=p.position_bias,
            text_characters=p.text_characters,
            caption_examples=p.caption_examples,
        )
    finetune(
        cell.task,
        episodes,
        model_dir,
        init=job.init,
        preset=p.preset,
        steps=f.steps,
        lr=f.lr,
        batch_size=f.batch_size,
        seed=cell.seed,
        device=context.device,
        reporter=TrainingStage(progress, f"fine-tune {cell.describe()}"),
        **extra,
    )
