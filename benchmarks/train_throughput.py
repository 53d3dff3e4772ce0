"""Training throughput, side by side: today's step, each improvement, the final configuration.

    python benchmarks/train_throughput.py [--context 512] [--batch 8] [--rounds 3] [--steps 3]

Collects a few real episodes of every task of the `default` suite (random actions through the
rollout engine, in seconds) and prepares the bundled recipe's mixture from them (those tasks plus
text and captions, as `benchmarks/train_default.py` trains), then times one optimizer step of
gato-tiny per variant in CPU seconds (`time.process_time`, so other jobs on a shared machine
inflate wall time but not the figure). Variants run interleaved, `--rounds` times each, on the
same batches; the table gives the median and the range of tokens per CPU-second:

| variant        | what changes, cumulatively                                                |
|----------------|---------------------------------------------------------------------------|
| today          | the step before issue #20: dropout 0.1, LM head at every position         |
| no dropout     | dropout 0: attention runs the fused flash kernel instead of the math one  |
|                | with a (B, H, L, L) Bernoulli mask (the gato-tiny default since #20)      |
| target head    | the LM head only where a target counts (`gato_target_loss`)               |
| foreach AdamW  | one multi-tensor AdamW update instead of a loop over parameters           |
| bf16 autocast  | the final step under CPU bf16 autocast (not a default: see the figure)    |
| 2 threads      | the final step with torch's intra-op parallelism over both cores          |

It also times a large fp32 `torch.mm` in the same run (the core's measured matmul peak) and
counts the final step's floating-point operations (`torch.utils.flop_counter`) to print the
achieved GFLOP/s against that peak. Packing (`SequenceSampler.sample_batch`) is timed too: it runs
on the step's critical path, so it must stay a small share of it.

Both cores (`--parallel-rounds`, default 3; `benchmarks/train_parallel.py`): the final step in
one process of one thread against two data-parallel processes of one thread each (each its half
of the same global batches), gradients summed by one flat all_reduce after backward (the
trainer's exchange before DDP) or as the trainer sums them now (DDP). All three in tokens per
WALL second of the pair, interleaved round by round, with the load average printed.

`--loss-steps N --loss-seeds S` (with `--loss-only` to skip the timing): the held-back loss of
`today` and of the final step after N equal-token steps, over S seeds, mean +- sd and the paired
difference against the seed noise.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from train_parallel import parallel_table


class RandomPolicy:
    def start(self, task, envs):
        self.space = envs[0].action_space

    def reset(self, env_index, seed):
        pass

    def act(self, observations, env_indices):
        return np.stack([self.space.sample() for _ in env_indices])

    def close(self):
        pass


def collect(task_id: str, episodes: int, steps: int):
    from gato_eval.rollout import run_episodes
    from gato_eval.suites.registry import get_task

    spec = dataclasses.replace(get_task(task_id), max_episode_steps=steps)
    plan = [(i, 100 + i) for i in range(episodes)]
    results = run_episodes(spec, RandomPolicy(), plan, num_envs=1, record_trajectories=True)
    return [r.trajectory for r in results]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of running a training step: the knobs this benchmark turns."""

    name: str
    dropout: float
    target_head: bool
    foreach: bool
    bf16: bool = False
    threads: int = 1


VARIANTS = [
    Variant("today", dropout=0.1, target_head=False, foreach=False),
    Variant("no dropout", dropout=0.0, target_head=False, foreach=False),
    Variant("target head", dropout=0.0, target_head=True, foreach=False),
    Variant("foreach AdamW (final)", dropout=0.0, target_head=True, foreach=True),
    Variant("final + bf16 autocast", dropout=0.0, target_head=True, foreach=True, bf16=True),
    Variant("final, 2 threads", dropout=0.0, target_head=True, foreach=True, threads=2),
]


def make_step(variant: Variant, config, seed: int = 0) -> Callable:
    """A closure running one full optimizer step (forward, loss, backward, clip, AdamW)."""
    import torch

    from gato_eval.model.loss import gato_loss, gato_target_loss
    from gato_eval.model.transformer import GatoModel
    from gato_eval.training.optim import make_adamw

    torch.manual_seed(seed)
    model = GatoModel(dataclasses.replace(config, dropout=variant.dropout)).train()
    optimizer = make_adamw(model, 1e-3)
    for group in optimizer.param_groups:
        group["foreach"] = variant.foreach
    autocast = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        if variant.bf16
        else contextlib.nullcontext
    )

    def step(tensors) -> float:
        with autocast():
            if variant.target_head:
                loss = gato_target_loss(model, tensors)
            else:
                loss = gato_loss(model(tensors), tensors)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return float(loss.detach())

    step.model = model
    return step


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large fp32 torch.mm on one thread (the best of `repeats`)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        a @ b
        best = min(best, time.process_time() - started)
    return 2 * size**3 / best / 1e9


def step_flops(step: Callable, tensors) -> int:
    """Floating-point operations of one step, as torch's flop counter tallies them."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step(tensors)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--preset", default="gato-tiny")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats per variant")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--episodes", type=int, default=3, help="random episodes per task")
    parser.add_argument(
        "--loss-steps",
        type=int,
        default=0,
        help="also train `today` and the final step this many steps on the same batches and "
        "compare their held-back losses (0: skip)",
    )
    parser.add_argument(
        "--parallel-rounds",
        type=int,
        default=3,
        help="interleaved rounds of 1 process vs 2 (wall time; 0: skip)",
    )
    parser.add_argument(
        "--loss-seeds", type=int, default=1, help="seeds of the --loss-steps comparison"
    )
    parser.add_argument(
        "--parallel-only", action="store_true", help="only the 1 vs 2 processes table"
    )
    parser.add_argument(
        "--loss-only", action="store_true", help="only the --loss-steps comparison, no timing"
    )
    args = parser.parse_args()
    os.environ.setdefault("GATO_EVAL_HOME", tempfile.mkdtemp(prefix="gato-bench-"))

    import torch

    from gato_eval.corpus.mixtures import DataCatalog, resolve_mixture
    from gato_eval.model.config import get_preset
    from gato_eval.suites.registry import get_suite, get_task
    from gato_eval.training.data import DataOptions, prepare_training_data

    torch.set_num_threads(1)
    config = get_preset(args.preset, context_length=args.context)
    tasks = list(get_suite("default").tasks)
    episodes = {task: collect(task, args.episodes, 300) for task in tasks}
    catalog = DataCatalog(
        families={task: get_task(task).family for task in tasks},
        with_data=frozenset(episodes),
        heldout=frozenset(),
    )
    mixture = resolve_mixture(",".join([*tasks, "no-control"]), catalog)
    work = Path(tempfile.mkdtemp(prefix="gato-bench-"))
    data = prepare_training_data(
        mixture,
        config.layout,
        DataOptions(context_length=args.context, text_characters=300_000),
        work / "text.model",
        episodes_by_task=episodes,
    )
    if args.loss_only:
        compare_losses(data, config, args)
        return
    count = max(args.rounds, args.parallel_rounds) * args.steps + 1
    started = time.process_time()
    batches = [data.train.sample_batch(k, args.batch)[0] for k in range(count)]
    packing_s = (time.process_time() - started) / count
    tensors = [batch.to_torch() for batch in batches]
    tokens = [int(batch.valid.sum()) for batch in batches]
    peak = matmul_peak()
    print(f"{config.name}, context {args.context}, batch {args.batch}, the bundled mixture")
    print(f"matmul peak (fp32 torch.mm 2048^3, one thread): {peak:.1f} GFLOP/s")
    print(f"packing: {packing_s * 1e3:.1f} CPU-ms per batch")

    if args.parallel_only:
        final = make_step(VARIANTS[3], config)
        final(tensors[0])  # untimed: allocations, kernel selection
        parallel_table(final, config, batches, tensors, tokens, args.parallel_rounds, args.steps)
        return
    steps = {variant.name: make_step(variant, config) for variant in VARIANTS}
    for variant in VARIANTS:  # one untimed step each: allocations, kernel selection
        torch.set_num_threads(variant.threads)
        steps[variant.name](tensors[0])
    rates: dict[str, list[float]] = {variant.name: [] for variant in VARIANTS}
    for round_ in range(args.rounds):
        for variant in VARIANTS:
            if variant.bf16 and round_:
                continue  # several times slower here: one round says enough
            torch.set_num_threads(variant.threads)
            chosen = range(1 + round_ * args.steps, 1 + (round_ + 1) * args.steps)
            cpu, wall = time.process_time(), time.perf_counter()
            for k in chosen:
                steps[variant.name](tensors[k])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            used = sum(tokens[k] for k in chosen)
            # Two threads are judged by wall time (CPU time counts both cores).
            rates[variant.name].append(used / (wall if variant.threads > 1 else cpu))
    torch.set_num_threads(1)
    final = make_step(VARIANTS[3], config)
    flops = step_flops(final, tensors[0]) / tokens[0]

    base = statistics.median(rates["today"])
    header = f"{'tokens/CPU-s (median, range)':>32s} {'x today':>8s} {'GFLOP/s':>8s}"
    print(f"\n{'variant':24s} {header}")
    for variant in VARIANTS:
        values = rates[variant.name]
        median = statistics.median(values)
        span = f"{median:,.0f} ({min(values):,.0f}-{max(values):,.0f})"
        unit = "tokens/s" if variant.threads > 1 else ""
        print(
            f"{variant.name:24s} {span:>32s} {median / base:7.2f}x {median * flops / 1e9:8.1f}"
            f" {unit}"
        )
    final_rate = statistics.median(rates[VARIANTS[3].name])
    print(
        f"\nfinal step: {flops / 1e6:.1f} MFLOP per token, {final_rate * flops / 1e9:.1f} GFLOP/s, "
        f"{100 * final_rate * flops / 1e9 / peak:.0f}% of the measured matmul peak"
    )
    step_s = statistics.mean(tokens) / final_rate
    print(f"packing is {100 * packing_s / step_s:.1f}% of a final step's CPU time")
    if args.parallel_rounds:
        parallel_table(
            steps[VARIANTS[3].name],
            config,
            batches,
            tensors,
            tokens,
            args.parallel_rounds,
            args.steps,
        )
    if args.loss_steps:
        compare_losses(data, config, args)


def compare_losses(data, config, args) -> None:
    """Held-back loss of `today` and the final step after equal tokens, over `--loss-seeds` seeds.

    Seed s initializes both models alike (torch seed s) and trains both on the same batches
    (indices 100,000 * (s + 1) + k of the training sampler), so within a seed the two differ
    only in the step; across seeds init and batches change, which is the noise the difference
    is judged against.
    """
    import torch

    from gato_eval.model.loss import gato_loss

    held = [data.eval.sample_batch(k, args.batch)[0].to_torch() for k in range(4)]
    pair = (VARIANTS[0], VARIANTS[3])
    found: dict[str, list[float]] = {variant.name: [] for variant in pair}
    print(f"\nheld-back loss after {args.loss_steps} steps of batch {args.batch}, per seed:")
    for seed in range(args.loss_seeds):
        for variant in pair:
            step = make_step(variant, config, seed=seed)
            for k in range(args.loss_steps):
                step(data.train.sample_batch(100_000 * (seed + 1) + k, args.batch)[0].to_torch())
            model = step.model.eval()
            with torch.no_grad():
                losses = [float(gato_loss(model(batch), batch)) for batch in held]
            found[variant.name].append(statistics.mean(losses))
            print(f"  seed {seed}  {variant.name:24s} {found[variant.name][-1]:.4f}", flush=True)
    if args.loss_seeds < 2:
        return
    for variant in pair:
        values = found[variant.name]
        print(
            f"  {variant.name:24s} mean {statistics.mean(values):.4f} +- "
            f"{statistics.stdev(values):.4f} (sd over {len(values)} seeds)"
        )
    diffs = [b - a for a, b in zip(*found.values(), strict=True)]
    noise = max(statistics.stdev(v) for v in found.values())
    within = abs(statistics.mean(diffs)) <= noise
    print(
        f"  final - today: {statistics.mean(diffs):+.4f} (paired, "
        f"sd {statistics.stdev(diffs):.4f}); {'within' if within else 'outside'} the seed "
        f"noise (largest sd {noise:.4f})"
    )


if __name__ == "__main__":
    main()
