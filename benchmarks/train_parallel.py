"""Both cores: one training process against two data-parallel ones, in tokens per WALL second.

Used by `benchmarks/train_throughput.py` (`--parallel-rounds`, `--parallel-only`), which prepares
the batches. Each round times, on the same global batches, interleaved:

| variant                  | what runs                                                          |
|--------------------------|--------------------------------------------------------------------|
| 1 process                | the final one-core step, one thread                                |
| 2 processes, flat        | each its rows, then ONE all_reduce of every gradient flattened     |
|                          | after backward (the trainer's exchange before DDP, kept to compare) |
| 2 processes, trainer     | each its rows, gradients summed as `gato-eval train --processes 2` |
|                          | sums them: `data_parallel.summing_gradients` (DDP: bucketed        |
|                          | all_reduces that overlap the backward pass)                        |

Wall time of the pair, not CPU time: both cores are the point. On a machine other jobs load,
two processes in lockstep wait for whichever is descheduled, so judge the ratio on free cores.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def flat_all_reduce(model) -> None:
    """Sum every gradient over the ranks in one all_reduce of one flat buffer (a parameter no
    rank used keeps grad None)."""
    import torch
    import torch.distributed as dist

    params = list(model.parameters())
    pieces = [p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel()) for p in params]
    pieces.append(torch.tensor([float(p.grad is not None) for p in params]))
    flat = torch.cat(pieces)  # (parameters + len(params),)
    dist.all_reduce(flat)
    used = flat[-len(params) :]
    offset = 0
    for index, param in enumerate(params):
        size = param.numel()
        param.grad = flat[offset : offset + size].view_as(param) if used[index] else None
        offset += size


def make_parallel_step(config, rank: int, size: int, reduction: str) -> Callable:
    """The final step as rank `rank` of `size` data-parallel processes: its rows of the global
    TokenBatch, the loss weighted by its share of the targets, gradients summed by one flat
    all_reduce (`reduction="flat"`) or as the trainer sums them (`"trainer"`)."""
    import dataclasses

    import torch

    from gato_eval.model.loss import SmoothedTargetLoss
    from gato_eval.model.transformer import GatoModel
    from gato_eval.training.data_parallel import (
        ProcessGroup,
        counted_per_row,
        rank_rows,
        summing_gradients,
        take_rows,
    )
    from gato_eval.training.optim import make_adamw

    torch.manual_seed(0)
    model = GatoModel(dataclasses.replace(config, dropout=0.0)).train()
    optimizer = make_adamw(model, 1e-3)
    loss_module = SmoothedTargetLoss(model, 0.0)  # the final step's plain target loss
    if reduction == "trainer":
        loss_module = summing_gradients(loss_module)

    def step(batch) -> None:
        lo, hi = rank_rows(batch.num_rows, ProcessGroup(rank, size))
        counted = counted_per_row(batch)
        share = float(counted[lo:hi].sum()) / max(float(counted.sum()), 1.0)
        tensors = take_rows(batch, lo, hi).to_torch()
        ordinal = torch.zeros(hi - lo, dtype=torch.bool)
        optimizer.zero_grad(set_to_none=True)
        if reduction == "flat":
            (loss_module(tensors, ordinal) * share).backward()
            flat_all_reduce(model)
        else:
            (loss_module(tensors, ordinal) * (share * size)).backward()  # DDP averages
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    step.model = model
    return step


def parallel_worker(rank, size, address, config, batches, tokens, reduction, results) -> None:
    """One rank of a timed data-parallel round: a warm-up step, then `batches[1:]` timed in
    wall seconds between two barriers; rank 0 reports (tokens per wall second, all_reduce ms)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=address, rank=rank, world_size=size)
    try:
        step = make_parallel_step(config, rank, size, reduction)
        step(batches[0])
        dist.barrier()
        wall = time.perf_counter()
        for batch in batches[1:]:
            step(batch)
        dist.barrier()
        wall = time.perf_counter() - wall
        flat = torch.zeros(sum(p.numel() for p in step.model.parameters()))
        exchange = time.perf_counter()
        for _ in range(10):
            dist.all_reduce(flat)
        exchange = (time.perf_counter() - exchange) / 10
        if rank == 0:
            results.put((sum(tokens[1:]) / wall, exchange * 1e3, flat.numel() * 4 / 1e6))
    finally:
        dist.destroy_process_group()


def parallel_round(config, batches, tokens, reduction: str, size: int = 2):
    """(tokens per wall second, all_reduce ms, MB exchanged) of `size` processes on `batches`."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    results = mp.get_context("spawn").SimpleQueue()
    arguments = (size, address, config, batches, tokens, reduction, results)
    mp.spawn(parallel_worker, args=arguments, nprocs=size, join=True)
    return results.get()


def parallel_table(one_step, config, batches, tensors, tokens, rounds: int, steps: int) -> None:
    """Print 1 process vs 2 (flat, trainer), in tokens per WALL second, `rounds` interleaved
    rounds of `steps` steps; `one_step(tensors[k])` is the one-process step of batch k."""
    import torch

    torch.set_num_threads(1)
    names = {"flat": "2 processes, flat", "trainer": "2 processes, trainer"}
    rates: dict[str, list[float]] = {"1 process": [], **{name: [] for name in names.values()}}
    exchange: list[float] = []
    size_mb = 0.0
    for round_ in range(rounds):
        chosen = [0, *range(1 + round_ * steps, 1 + (round_ + 1) * steps)]
        used = [tokens[k] for k in chosen]
        wall = time.perf_counter()
        for k in chosen[1:]:
            one_step(tensors[k])
        rates["1 process"].append(sum(used[1:]) / (time.perf_counter() - wall))
        picked = [batches[k] for k in chosen]
        for reduction, name in names.items():
            rate, ms, size_mb = parallel_round(config, picked, used, reduction)
            rates[name].append(rate)
            exchange.append(ms)
    base = statistics.median(rates["1 process"])
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\nboth cores: tokens per WALL second, {rounds} interleaved rounds of {steps} steps "
        f"(load average {load})"
    )
    for name, values in rates.items():
        median = statistics.median(values)
        span = f"{median:,.0f} ({min(values):,.0f}-{max(values):,.0f})"
        print(f"{name:24s} {span:>32s} {median / base:7.2f}x one process")
    print(
        f"all_reduce of the gradient ({size_mb:.1f} MB, gloo, 2 processes): "
        f"{statistics.median(exchange):.1f} ms (median)"
    )
