"""Data-parallel training on CPU: N processes, each its share of every batch, gradients summed.

Why processes: torch's intra-op threads split gato-tiny's small matmuls too finely to pay (two
threads ran a step at 0.2-0.6x the tokens per second of one, results/training_throughput.txt);
two processes of one thread each run whole halves of the batch and meet once per step.

How a step stays the step of one process (`DataParallelTrainer`):
- every rank packs the whole global batch `step` (packing is < 1% of a step) and trains on its
  contiguous rows (`rank_rows`: `np.array_split` of the B rows), so the global batch is the one a
  single process with the same seed would train on;
- its loss is its rows' mean loss times M_r / M (M_r: its counted targets, M: the batch's), so
  the sum over ranks is the batch's mean loss and the summed gradients are the one-process
  gradients up to float summation order;
- gradients are summed by `DistributedDataParallel` around the loss module
  (`model.loss.SmoothedTargetLoss`): bucketed all_reduces that overlap the backward pass, 1.87x
  one process where the earlier single flat all_reduce after backward reached 1.57x (free cores,
  results/training_throughput.txt). DDP averages, so each rank's loss is scaled by N first. A
  parameter no rank used keeps grad None (DDP with `find_unused_parameters` leaves globally
  unused parameters alone: rows without images leave the patch embedding unused), so AdamW skips
  it as it would with one process; one used by some rank only gets the others' zeros.
- one small all_reduce after backward carries the loss and the Ctrl-C flag (every rank stops
  after the same step); each rank then clips and steps identically, so the weights stay equal.
Random draws inside the model (image patch positions) are seeded by (seed, step) in every rank
as with one process, so the rows of rank 0 draw as they would alone and the image rows of other
ranks draw differently: losses then match a one-process run closely, not to the last bit. With a
fixed number of processes everything is deterministic, so resuming repeats a run bit for bit.

Launch (`run_training`): under `torchrun` (RANK and WORLD_SIZE in the environment) each process
joins the gloo group from the environment; otherwise, with `processes` > 1, this process is
rank 0 and spawns ranks 1..N-1 (torch.multiprocessing, spawn) that meet it over
tcp://127.0.0.1. Only rank 0 locks OUT, writes the tokenizer, metrics, checkpoints and the
model, evaluates and reports; it prepares the data first (it may train the SentencePiece model
into OUT), the others wait at a barrier and then load that model. Each process runs one
intra-op thread unless `threads` says otherwise.

`processes="auto"` (the default, `auto_processes`): 2 when training on CPU, the batch splits
evenly in two, a step holds at least `MIN_PARALLEL_TOKENS` positions (gato-tiny's 8 x 512, where
2 processes measured 1.87x one; smaller steps are dominated by the exchange and the start of a
second process) and at least 2 physical cores of this process's CPU set are free (cores minus
the rounded 1-minute load average); otherwise 1. The number chosen is recorded in the
checkpoints, and `--resume` without `--processes` keeps it, so a resumed run repeats its
uninterrupted self bit for bit whatever the load; pass `--processes 1` for runs that must match
across machines bit for bit.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from gato_eval.core.errors import GatoEvalError
from gato_eval.model.config import get_preset
from gato_eval.model.device import resolve_device
from gato_eval.tokenizer.batch import TokenBatch
from gato_eval.training.progress import SilentReporter
from gato_eval.training.settings import TrainResult, TrainSettings
from gato_eval.training.trainer import Trainer

MIN_PARALLEL_TOKENS = 4096  # positions per step: gato-tiny's 8 x 512 measured 1.87x on 2 cores
GROUP_TIMEOUT = timedelta(hours=1)  # rank 0 may prepare a large mixture while the others wait
_PER_POSITION = ("token_ids", "local_positions", "is_image", "loss_mask", "valid")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in a data-parallel run: rank in [0, size)."""

    rank: int
    size: int


def run_training(settings: TrainSettings, episodes_by_task, reporter) -> TrainResult:
    """Train as `settings` says, in one process or data-parallel (see the module docstring)."""
    launched = _torchrun_group()
    if launched is not None:
        return _run_launched(settings, episodes_by_task, reporter, launched)
    processes = resolve_processes(settings)
    settings = replace(settings, processes=processes)
    if processes == 1:
        return Trainer(settings, episodes_by_task, reporter).run()
    return _run_spawned(settings, episodes_by_task, reporter, processes)


def resolve_processes(settings: TrainSettings) -> int:
    """The number of processes `settings.processes` means here (an int, or "auto")."""
    device = resolve_device(settings.device).type
    if settings.processes == "auto":
        context = settings.context_length
        if context is None and settings.init is None:  # a fresh model at its preset's context
            context = get_preset(settings.preset).context_length
        return auto_processes(settings.batch_size, device, context)
    if settings.processes > 1 and device != "cpu":
        raise GatoEvalError(
            f"--processes {settings.processes} trains on CPU only; on {device} use --processes 1"
        )
    return int(settings.processes)


def auto_processes(batch_size: int, device_type: str, context_length: int | None = None) -> int:
    """2 on CPU when the batch splits evenly in two, a step holds at least
    `MIN_PARALLEL_TOKENS` positions (when `context_length` is known) and 2 physical cores are
    free, else 1."""
    if device_type != "cpu" or batch_size % 2:
        return 1
    if context_length is not None and batch_size * context_length < MIN_PARALLEL_TOKENS:
        return 1
    return 2 if free_physical_cores() >= 2 else 1


def free_physical_cores() -> int:
    """Physical cores of this process's CPU set minus the rounded 1-minute load average."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            cores.add((package, (topology / "core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))  # no topology: count logical CPUs
    count = len(cores) or (os.cpu_count() or 1)
    return count - round(os.getloadavg()[0])


def rank_rows(batch_size: int, group: ProcessGroup) -> tuple[int, int]:
    """[lo, hi): the contiguous rows of a `batch_size`-row batch that `group.rank` trains on."""
    sizes = [len(part) for part in np.array_split(np.arange(batch_size), group.size)]
    lo = sum(sizes[: group.rank])
    return lo, lo + sizes[group.rank]


def take_rows(batch: TokenBatch, lo: int, hi: int) -> TokenBatch:
    """Rows [lo, hi) of `batch`, padding kept, with exactly those rows' patches."""
    offsets = np.concatenate([[0], np.cumsum(batch.is_image.sum(axis=1))])  # (B + 1,)
    patches = slice(int(offsets[lo]), int(offsets[hi]))
    return TokenBatch(
        **{name: getattr(batch, name)[lo:hi] for name in (*_PER_POSITION, "timestep_start")},
        patches=batch.patches[patches],
        patch_row_interval=batch.patch_row_interval[patches],
        patch_col_interval=batch.patch_col_interval[patches],
    )


def counted_per_row(batch: TokenBatch) -> np.ndarray:
    """int64 (B,): targets the loss counts in each row (as `model.loss.counted_targets`)."""
    counted = batch.loss_mask[:, 1:] & batch.valid[:, 1:] & ~batch.is_image[:, 1:]
    return counted.sum(axis=1, dtype=np.int64)


class _NoMetrics:
    """The metrics log of ranks other than 0: rank 0 alone writes metrics.csv."""

    def append(self, row) -> None:
        pass

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


class DataParallelTrainer(Trainer):
    """`Trainer` as one rank of a data-parallel group (the gloo group must be initialized)."""

    def __init__(self, settings, episodes_by_task, reporter, group: ProcessGroup):
        shown = reporter if group.rank == 0 and reporter is not None else SilentReporter()
        super().__init__(settings, episodes_by_task, shown)
        self.group = group
        self.rows = rank_rows(settings.batch_size, group)
        self.stopped = False
        self._ddp: DistributedDataParallel | None = None

    @property
    def writer(self) -> bool:
        return self.group.rank == 0

    def _take_lock(self):
        return super()._take_lock() if self.writer else None

    def _place_tokenizer(self, source) -> None:
        if self.writer:
            super()._place_tokenizer(source)

    def _prepare_data(self, mixture):
        # Rank 0 first: it may train the SentencePiece model into OUT, which the others load.
        if not self.writer:
            dist.barrier()
        data = super()._prepare_data(mixture)
        if self.writer:
            dist.barrier()
        for tensor in self.model.state_dict().values():
            dist.broadcast(tensor, src=0)  # equal by construction; made certain
        return data

    def _open_metrics(self, eval_names, resume_step):
        return super()._open_metrics(eval_names, resume_step) if self.writer else _NoMetrics()

    def _evaluation_batches(self):
        return super()._evaluation_batches() if self.writer else []

    def _save_checkpoint(self, loss, eval_loss) -> None:
        if self.writer:
            super()._save_checkpoint(loss, eval_loss)

    def _write_final_model(self, loss, eval_loss) -> None:
        if self.writer:
            super()._write_final_model(loss, eval_loss)

    def _stopping(self) -> bool:
        return self.stopped

    def _loss(self, batch, ordinal):
        """This rank's rows' mean loss, weighted by their share of the batch's targets, times
        the number of ranks (DDP averages the gradients it sums)."""
        lo, hi = self.rows
        counted = counted_per_row(batch)
        total = int(counted.sum())
        share = int(counted[lo:hi].sum()) / total if total else 0.0
        loss = super()._loss(take_rows(batch, lo, hi), ordinal[lo:hi])
        return loss * (share * self.group.size)

    def _loss_module(self) -> torch.nn.Module:
        if self._ddp is None:  # built at the first step: after a resume restored the weights
            self._ddp = summing_gradients(super()._loss_module())
        return self._ddp

    def _reduce(self, value: float) -> float:
        """The batch's loss and whether any rank was asked to stop (gradients: DDP's)."""
        summed = torch.tensor([value / self.group.size, float(self.stop.requested)])
        dist.all_reduce(summed)
        self.stopped = bool(summed[1] > 0)
        return float(summed[0])


def summing_gradients(loss: torch.nn.Module) -> DistributedDataParallel:
    """`loss` (a module whose forward returns the scalar loss) wrapped so that backward leaves
    every rank with the mean of the ranks' gradients (the process group must be initialized)."""
    return DistributedDataParallel(
        loss,
        find_unused_parameters=True,  # the patch embedding, in rows without images
        forward_sync_buffers=False,  # buffers are constants, equal in every rank
        gradient_as_bucket_view=True,  # no copy from the buckets into .grad
    )


def _run_launched(settings, episodes_by_task, reporter, group: ProcessGroup) -> TrainResult:
    """One rank of a torchrun launch: the group comes from the environment."""
    if settings.processes not in ("auto", group.size):
        raise GatoEvalError(
            f"--processes {settings.processes} differs from torchrun's {group.size} processes"
        )
    if resolve_device(settings.device).type != "cpu":
        raise GatoEvalError("data-parallel training runs on CPU (gloo); use --device cpu")
    settings = replace(settings, processes=group.size, threads=settings.threads or 1)
    dist.init_process_group("gloo", timeout=GROUP_TIMEOUT)
    try:
        return DataParallelTrainer(settings, episodes_by_task, reporter, group).run()
    finally:
        dist.destroy_process_group()


def _torchrun_group() -> ProcessGroup | None:
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    size = int(os.environ["WORLD_SIZE"])
    return ProcessGroup(int(os.environ["RANK"]), size) if size > 1 else None


def _run_spawned(settings, episodes_by_task, reporter, processes: int) -> TrainResult:
    """This process as rank 0, ranks 1..processes-1 spawned, meeting over local TCP."""
    settings = replace(settings, threads=settings.threads or 1)
    address = f"tcp://127.0.0.1:{_free_port()}"
    context = torch.multiprocessing.get_context("spawn")
    errors = context.SimpleQueue()
    workers = [
        context.Process(
            target=_worker,
            args=(settings, episodes_by_task, rank, processes, address, os.getpid(), errors),
            daemon=True,
        )
        for rank in range(1, processes)
    ]
    for worker in workers:
        worker.start()
    finished = False
    try:
        dist.init_process_group(
            "gloo", init_method=address, rank=0, world_size=processes, timeout=GROUP_TIMEOUT
        )
        group = ProcessGroup(0, processes)
        result = DataParallelTrainer(settings, episodes_by_task, reporter, group).run()
        finished = True
        return result
    except RuntimeError as err:  # gloo: a peer went away mid-step
        failure = _worker_failure(workers, errors)
        if failure is None:
            raise
        raise GatoEvalError(f"{failure}; continue with --resume") from err
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        for worker in workers:
            worker.join(timeout=30 if finished else 2)
            if worker.is_alive():
                worker.terminate()
                worker.join()


def _worker_failure(workers, errors) -> str | None:
    """What a failed spawned rank reported, or None when none failed."""
    for worker in workers:
        worker.join(timeout=2)
    if not errors.empty():
        return f"a training process failed: {errors.get()}"
    dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
    return f"a training process died (exit code {dead[0]})" if dead else None


def _worker(settings, episodes_by_task, rank, size, address, parent, errors) -> None:
    """Rank `rank` of a spawned run (runs in the child process)."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        dist.init_process_group(
            "gloo", init_method=address, rank=rank, world_size=size, timeout=GROUP_TIMEOUT
        )
        group = ProcessGroup(rank, size)
        DataParallelTrainer(settings, episodes_by_task, None, group).run()
    except KeyboardInterrupt:
        pass  # rank 0 saved the checkpoint and tells the user
    except GatoEvalError as err:
        errors.put(str(err))
        sys.exit(1)
    except Exception as err:
        errors.put(f"{type(err).__name__}: {err}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _exit_with_parent(parent: int) -> None:
    """A rank whose parent (rank 0) was killed would wait in a collective for an hour."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
