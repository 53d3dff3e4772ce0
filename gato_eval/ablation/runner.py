"""The ablation orchestrator: data, pretrained variants, reference levels, then every cell.

`run_ablation(AblationOptions(grid, out, ...))`:

1. opens the results directory (`store.py`; a directory of a compatible grid is continued);
2. checks supplied pretrained models (`--pretrained KEY=PATH`) for held-out data;
3. collects the data sets the unfinished cells need (held-out demonstrations; pretraining data
   of the variants still to train), through `gato_eval.collection.demonstrations`;
4. measures each task's random and expert levels once (the `random` and `expert` policies under
   the grid's evaluation settings);
5. runs the jobs (`jobs.py`), in grid order, up to `workers` at a time (`workers.py`): pretrains
   a variant before its first cell needs it (`training.train.train`); for each unfinished cell,
   fine-tunes on its nested demonstration subset (`training.train.finetune`: Adam, constant
   learning rate) and evaluates the fine-tuned model (`gato_eval.evaluate.evaluate_suite` on a
   one-task suite, prompted as usual); then appends the cell's row and rewrites the tables.
   This process alone writes the directory's shared files; a job writes only in its own
   model or cell directory.

Every stage resumes: collections from their staged episodes, training from its checkpoints,
evaluations from their recorded episodes, the grid from its rows. A cell whose plan changed
(another pretrained model, other demonstrations) is discarded and redone.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gato_eval.ablation import demos, pretrained
from gato_eval.ablation.evaluation import evaluate_into
from gato_eval.ablation.grid import Cell, Grid
from gato_eval.ablation.jobs import CellJob, CellTimes, JobContext, PretrainJob, ensure_dataset
from gato_eval.ablation.progress import AblationProgress, SilentProgress
from gato_eval.ablation.scores import mean_return, score_ablation
from gato_eval.ablation.store import AblationStore, cell_row, start_cell_plan
from gato_eval.ablation.tables import write_tables
from gato_eval.ablation.workers import start_jobs
from gato_eval.core.errors import GatoEvalError
from gato_eval.model.config import get_preset
from gato_eval.policies.loading import check_device

REFERENCE_POLICIES = ("random", "expert")


@dataclass
class AblationOptions:
    """What to run and where. pretrained: key (`all`, `no-control`, `same-domain:FAMILY`) ->
    checkpoint path or `bundled`; max_cells: stop after finishing this many cells (None: all);
    workers: jobs (pretraining, cells) run at once, each in its own process when above 1;
    threads: torch threads of each job (None: the machine's cores shared among the workers)."""

    grid: Grid
    out: Path
    pretrained: dict[str, str] = field(default_factory=dict)
    device: str = "auto"
    threads: int | None = None
    max_cells: int | None = None
    workers: int = 1
    argv: list[str] = field(default_factory=lambda: list(sys.argv))


@dataclass
class AblationOutcome:
    """How far the grid got: `finished` of `total` cells are done, `ran` of them by this call."""

    path: Path
    total: int
    finished: int
    ran: int
    wall_s: float

    @property
    def complete(self) -> bool:
        return self.finished == self.total


class AblationInterrupted(GatoEvalError):
    """Ctrl-C: finished cells are saved; rerunning the same command continues the grid."""

    exit_code = 130


def run_ablation(
    options: AblationOptions, progress: AblationProgress | None = None
) -> AblationOutcome:
    """Run (or continue) the grid into `options.out` (see the module docstring)."""
    _check_options(options)
    # Supplied models are checked (loadable config, no held-out data) before anything is written.
    supplied = {
        key: pretrained.describe_supplied(key, path, options.grid.tasks)
        for key, path in options.pretrained.items()
    }
    runner = _Runner(options, progress or SilentProgress(), supplied)
    try:
        return runner.run()
    except KeyboardInterrupt:
        raise AblationInterrupted(runner.interrupted_message()) from None
    except GatoEvalError as err:
        if err.exit_code == 130:  # an evaluation's own interruption message names `run suite`
            raise AblationInterrupted(runner.interrupted_message()) from None
        raise
    finally:
        runner.progress.finish()


def _check_options(options: AblationOptions) -> None:
    check_device(options.device)  # the evaluations load the policy with this device name
    if options.threads is not None and options.threads < 1:
        raise GatoEvalError(f"--threads must be >= 1, got {options.threads}")
    if options.workers < 1:
        raise GatoEvalError(f"--workers must be >= 1, got {options.workers}")
    if options.max_cells is not None and options.max_cells < 1:
        raise GatoEvalError(f"--max-cells must be >= 1, got {options.max_cells}")
    needed = {options.grid.pretrained_key(cell) for cell in options.grid.cells()} - {None}
    if options.pretrained and options.grid.pretraining_seeds:
        raise GatoEvalError(
            "--pretrained supplies one model per variant, and this grid pretrains each with "
            f"pretraining_seeds {list(options.grid.pretraining_seeds)}: drop --pretrained, or "
            "use a grid without pretraining_seeds"
        )
    for key in options.pretrained:
        pretrained.check_key(key)
        if key not in needed:
            uses = ", ".join(sorted(needed)) or "none (scratch only)"
            raise GatoEvalError(
                f"--pretrained {key}: the grid has no cell that starts from '{key}' "
                f"(its pretrained variants: {uses})"
            )


class _Runner:
    def __init__(self, options: AblationOptions, progress: AblationProgress, supplied: dict):
        self.options = options
        self.supplied = supplied  # key -> description of a model passed with --pretrained
        self.grid = options.grid
        self.out = Path(options.out).expanduser()
        self.progress = progress
        self.models: dict[str, Path] = {}  # model name (pretrained.model_name) -> checkpoint
        self.heldout: dict[str, Any] = {}  # task -> DatasetInfo of its demonstrations
        self.levels: dict[str, dict[str, float | None]] = {}  # task -> random/expert returns
        self.finished = 0
        self.total = len(self.grid.cells())
        self.threads = options.threads
        if self.threads is None and options.workers > 1:
            self.threads = max(1, (os.cpu_count() or 1) // options.workers)
        self.context = JobContext(
            self.grid, self.out, options.device, self.threads, tuple(options.argv)
        )

    def interrupted_message(self) -> str:
        return (
            f"interrupted: {self.finished} of {self.total} cells are finished in {self.out}; "
            "rerun the same command to continue"
        )

    def run(self) -> AblationOutcome:
        started = time.perf_counter()
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        with AblationStore.open(self.out, self.grid, self.options.argv) as store:
            self.store = store
            self._adopt_supplied_models()
            done = store.finished_keys()
            todo = [cell for cell in self.grid.cells() if cell.key not in done]
            self.finished = self.total - len(todo)
            self.progress.grid_started(self.total, self.finished)
            if self.options.max_cells is not None:
                todo = todo[: self.options.max_cells]
            pretraining = self._adopt_trained_models(todo)
            self._collect_data(todo, pretraining)
            for task in dict.fromkeys(cell.task for cell in todo):
                self._references(task)  # before any job: every cell is scored against them
            self._run_cells(todo, pretraining)
            self._write_tables()
        return AblationOutcome(
            self.out, self.total, self.finished, len(todo), time.perf_counter() - started
        )

    # -- pretrained models -----------------------------------------------------------------

    def _adopt_supplied_models(self) -> None:
        """Check supplied models; a directory keeps using the ones it recorded."""
        needed = {self.grid.pretrained_key(cell) for cell in self.grid.cells()} - {None}
        self.models.update(
            pretrained.adopt_supplied(
                self.store.metadata["pretrained"],
                self.supplied,
                needed,
                self.grid.tasks,
                self.out,
            )
        )
        self.store.save()

        p = self.grid.pretraining
        context = p.context_length or get_preset(p.preset).context_length
        for key in self.models:
            supplied = self.store.metadata["pretrained"][key].get("context_length")
            if supplied != context:  # fine-tuning keeps a model's own context
                self.progress.message(
                    f"note: the supplied '{key}' model has context {supplied}, the grid's "
                    f"pretraining (and scratch) models {context}: variants differ in more than "
                    "their pretraining data"
                )

    def _models_to_train(self, cells: list[Cell]) -> list[tuple[str, int | None]]:
        """(key, pretraining seed) of every pretrained model the cells need and lack."""
        models = [self.grid.pretrained_model(cell) for cell in cells]
        return [
            m
            for m in dict.fromkeys(models)
            if m is not None and pretrained.model_name(*m) not in self.models
        ]

    def _adopt_trained_models(self, cells: list[Cell]) -> list[PretrainJob]:
        """Record the models the cells need that are already trained in the results directory
        (a finished pretraining); the jobs to pretrain the others. Fails before any work when
        a variant to train has no data to train on."""
        grid, options = self.grid, self.options
        jobs = []
        for key, seed in self._models_to_train(cells):
            out = pretrained.pretrained_dir(self.out, key, seed)
            if pretrained.finished_model(key, grid, out, options.device, self.threads, seed):
                recorded = self.store.metadata["pretrained"].get(pretrained.model_name(key, seed))
                self._record_pretrained(PretrainJob(key, seed), (recorded or {}).get("datasets"))
            else:
                pretrained.plan_for_key(key, grid)  # raises when the grid has no data for it
                jobs.append(PretrainJob(key, seed))
        return jobs

    def _record_pretrained(self, job: PretrainJob, datasets: list[dict] | None) -> None:
        name = pretrained.model_name(job.key, job.seed)
        out = pretrained.pretrained_dir(self.out, job.key, job.seed)
        pretrained.remove_training_checkpoints(out)
        description = pretrained.describe_trained(job.key, out, datasets or [], self.grid.tasks)
        description["path"] = str(out.relative_to(self.out))
        if job.seed is not None:
            description["seed"] = job.seed
        self.store.metadata["pretrained"][name] = description
        self.store.save()
        self.models[name] = out

    # -- data ------------------------------------------------------------------------------

    def _dataset(self, task: str, episodes: int, noise: float):
        return ensure_dataset(self.grid, task, episodes, noise, self.progress)

    def _collect_data(self, cells: list[Cell], pretraining: list[PretrainJob]) -> None:
        """Every data set the cells and the pretraining jobs need, collected up front (so
        failures come early, and workers only read data sets)."""
        for task in dict.fromkeys(cell.task for cell in cells):
            self._heldout_info(task)
        for job in pretraining:
            for plan in pretrained.plan_for_key(job.key, self.grid)[1]:
                self._dataset(plan.task, plan.episodes, plan.noise)

    def _heldout_info(self, task: str):
        if task not in self.heldout:
            data = self.grid.heldout_data[task]
            info = self._dataset(task, data.episodes, data.noise)
            pool = demos.best_positions(info, data.episodes, data.best)
            self.store.metadata["heldout_data"][task] = {
                "dataset": info.name,
                "sha256": info.sha256,
                "episodes_in_dataset": info.episodes,
                "episodes_read": data.episodes,
                "expert_score": info.expert_score,
                "pool": demos.describe_demonstrations(info, pool),
            }
            self.store.save()
            self.heldout[task] = info
        return self.heldout[task]

    # -- evaluation ------------------------------------------------------------------------

    def _evaluate(self, task: str, model: str, run_dir: Path, label: str) -> None:
        evaluate_into(
            run_dir,
            model,
            results=self.out,
            grid=self.grid,
            task=task,
            label=label,
            device=self.options.device,
            argv=self.options.argv,
            progress=self.progress,
        )

    def _references(self, task: str) -> dict[str, float | None]:
        """The random and expert mean returns of `task` under the grid's evaluation."""
        if task in self.levels:
            return self.levels[task]
        recorded = self.store.metadata["references"].get(task)
        levels = {}
        for policy in REFERENCE_POLICIES:
            run_dir = self.out / "references" / task / policy
            self._evaluate(task, policy, run_dir, f"{task} {policy}")
            levels[policy] = mean_return(run_dir)
        entry = {p: {"run_dir": f"references/{task}/{p}", "mean_return": levels[p]} for p in levels}
        if recorded != entry:
            self.store.metadata["references"][task] = entry
            self.store.save()
        self.levels[task] = levels
        return levels

    # -- cells -----------------------------------------------------------------------------

    def _run_cells(self, cells: list[Cell], pretraining: list[PretrainJob]) -> None:
        """Run the cells' jobs, pretraining a variant before its first cell, up to
        `options.workers` jobs at a time; cells start in grid order as their models exist."""
        jobs = start_jobs(self.context, self.progress, self.options.workers)
        to_train = {pretrained.model_name(job.key, job.seed): job for job in pretraining}
        waiting, training = list(cells), set()
        planned: dict[Cell, tuple[dict, float]] = {}  # cell -> (plan, seconds spent planning)
        try:
            while waiting or jobs.busy:
                for cell in list(waiting):
                    if jobs.busy >= jobs.capacity:
                        break
                    model = self.grid.pretrained_model(cell)
                    name = None if model is None else pretrained.model_name(*model)
                    if name is None or name in self.models:
                        waiting.remove(cell)
                        job, planned[cell] = self._plan_cell(cell)
                        jobs.submit(job)
                    elif name not in training:
                        training.add(name)
                        jobs.submit(to_train[name])
                for job, result in jobs.wait():
                    if isinstance(job, PretrainJob):
                        self._record_pretrained(job, result)
                    else:
                        self._finish_cell(job.cell, *planned.pop(job.cell), result)
        finally:
            jobs.close()

    def _plan_cell(self, cell: Cell) -> tuple[CellJob, tuple[dict, float]]:
        """The cell's job, its plan recorded in its directory (a cell planned otherwise is
        started again), and the seconds this took."""
        started = time.perf_counter()
        key = self.grid.pretrained_key(cell)
        name = None if key is None else pretrained.model_name(key, cell.pretraining_seed)
        init = None if name is None else self.models[name]
        # Hashed when the model was recorded (this run): not again for each of its cells.
        recorded = None if name is None else self.store.metadata["pretrained"][name]
        info = self._heldout_info(cell.task)
        data = self.grid.heldout_data[cell.task]
        pool = demos.best_positions(info, data.episodes, data.best)
        positions = demos.nested_subset(pool, cell.n_demos, cell.seed, cell.task)
        cell_dir = self.out / cell.directory
        plan = {
            "cell": cell.to_dict(),
            "pretrained": key,
            "pretrained_sha256": None if recorded is None else recorded["checkpoint_sha256"],
            "demonstrations": demos.describe_demonstrations(info, positions),
            "finetuning": asdict(self.grid.finetuning_of(cell.task)),
            "scratch_model": None if init is not None else asdict(self.grid.pretraining),
        }
        if start_cell_plan(cell_dir, plan):
            self.progress.message(f"  {cell_dir} was planned otherwise: starting it again")
        job = CellJob(cell, init, info, tuple(positions))
        return job, (plan, time.perf_counter() - started)

    def _finish_cell(self, cell: Cell, plan: dict, planning_s: float, times: CellTimes) -> None:
        """Append the finished cell's row, rewrite the tables and report its score."""
        from gato_eval.model.checkpoint import checkpoint_hash  # torch: loaded on call

        model_dir = self.out / cell.directory / "model"
        references = self._references(cell.task)
        row = cell_row(self.out, cell, plan, model_dir, checkpoint_hash(model_dir), references)
        row["wall_s"] = {
            "finetune_and_setup": round(planning_s + times.finetune_s, 2),
            "evaluate": round(times.evaluate_s, 2),
        }
        self.store.append_row(row)
        self._write_tables()
        self.finished += 1
        normalized = row["normalized"]
        score = "-" if normalized is None else f"{100 * normalized:.1f}%"
        self.progress.cell_finished(
            f"cell {self.finished}/{self.total} {cell.describe()}: return "
            f"{_number(row['mean_return'])}, normalized {score}"
        )

    def _write_tables(self) -> None:
        write_tables(self.out, score_ablation(self.out))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
