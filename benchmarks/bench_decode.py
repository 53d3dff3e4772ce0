"""Decoding speed of the Gato model: KV cache vs recomputing the context for every action token.

CPU part (always): `gato-79m` (random weights, float32, batch 1), per-action-token latency at
context positions 64, 256 and 1024, with the cache (`KVCacheDecoder.decode_action_tokens`) and
without it (a full forward pass over the whole context for every token), side by side.
Targets (issue 4): cached >= 10x faster than recompute at 1024; cached roughly flat
(position 1024 within 1.5x of position 64).

GPU part (only where CUDA is available, skipped with a message elsewhere): `gato-1.18b` under
bf16 autocast, control steps per second at batch 1 (a 36-token timestep: 29 observation tokens,
the separator, 6 action tokens decoded one at a time; target >= 200 Hz) and env-steps/s at
batch 64, in the steady state of a full 1024-token context (sliding window included).

    .venv/bin/python benchmarks/bench_decode.py [--threads 1] [--save results/bench_decode.txt]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from gato_eval.model.config import count_parameters, get_preset
from gato_eval.model.decoding import KVCacheDecoder
from gato_eval.model.transformer import GatoModel
from gato_eval.tokenizer.batch import ACTION_LOCAL_POSITION, PATCH_SIZE, TokenBatch
from gato_eval.tokenizer.layout import TokenLayout

OBSERVATION_TOKENS = 29  # + separator + 6 actions = a 36-token timestep
ACTION_TOKENS = 6


def make_timesteps(layout: TokenLayout, num_tokens: int, rows: int, seed: int = 0) -> TokenBatch:
    """(rows, num_tokens) of whole 36-token timesteps of random value tokens, cut at the end.

    Observation tokens take local positions 0..28, the separator 29, action tokens the shared
    action position, as the tokenizer lays them out.
    """
    rng = np.random.default_rng(seed)
    lo, hi = layout.value_range()
    period = OBSERVATION_TOKENS + 1 + ACTION_TOKENS
    offset = np.arange(num_tokens) % period  # position inside the timestep
    ids = rng.integers(lo, hi, (rows, num_tokens))
    ids[:, offset == OBSERVATION_TOKENS] = layout.separator_id
    local = np.where(offset <= OBSERVATION_TOKENS, offset, ACTION_LOCAL_POSITION)
    shape = (rows, num_tokens)
    return TokenBatch(
        token_ids=ids.astype(np.int64),
        local_positions=np.broadcast_to(local, shape).astype(np.int64),
        is_image=np.zeros(shape, dtype=bool),
        loss_mask=np.broadcast_to(offset > OBSERVATION_TOKENS, shape).copy(),
        valid=np.ones(shape, dtype=bool),
        timestep_start=np.broadcast_to(offset == 0, shape).copy(),
        patches=np.zeros((0, 3, PATCH_SIZE, PATCH_SIZE), dtype=np.float32),
        patch_row_interval=np.zeros((0, 2), dtype=np.int64),
        patch_col_interval=np.zeros((0, 2), dtype=np.int64),
    )


def cached_sampler(model: GatoModel, position: int, tokens: int, repeats: int):
    """A function timing `tokens` cached action tokens (seconds per token), the context ending
    at `position` after `repeats` calls: one prefill, then the context grows while measured.

    Each sample decodes the tokens and appends one more token, the pass that brings the last
    action token into the cache (see KVCacheDecoder): tokens + 1 positions, divided by tokens.
    """
    layout = model.config.layout
    action_ranges = [layout.value_range()] * tokens
    decoder = KVCacheDecoder(model, num_rows=1, context=position)
    decoder.append([0], make_timesteps(layout, position - (tokens + 1) * repeats, rows=1))
    next_token = make_timesteps(layout, 1, rows=1)

    def sample() -> float:
        start = time.perf_counter()
        decoder.decode_action_tokens([0], action_ranges)
        decoder.append([0], next_token, logits=False)
        return (time.perf_counter() - start) / tokens

    return sample


def recompute_sampler(model: GatoModel, position: int):
    """A function timing one action token without a cache: a full pass over `position` tokens."""
    sequence = make_timesteps(model.config.layout, position, rows=1).to_torch()
    lo, hi = model.config.layout.value_range()

    @torch.inference_mode()
    def sample() -> float:
        start = time.perf_counter()
        hidden = model.transform(model.embed(sequence))  # (1, position, width)
        int(model.logits(hidden[:, -1], (lo, hi)).argmax())
        return time.perf_counter() - start

    return sample


def interleaved_medians(samplers: dict, repeats: int) -> dict:
    """Median of `repeats` samples per key, taken round-robin so that a change of machine load
    (this machine is shared) hits every position alike instead of biasing the ratios."""
    samples = {key: [] for key in samplers}
    for _ in range(repeats):
        for key, sample in samplers.items():
            samples[key].append(sample())
    return {key: statistics.median(values) for key, values in samples.items()}


def bench_cpu(args, emit) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = get_preset(args.preset, dropout=0.0)
    model = GatoModel(config).eval()
    emit(
        f"CPU: {args.preset} ({count_parameters(config) / 1e6:.1f}M parameters, float32), batch 1, "
        f"torch threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}"
    )
    positions = sorted(args.positions)
    cached = interleaved_medians(
        {p: cached_sampler(model, p, args.tokens, args.repeats) for p in positions}, args.repeats
    )
    recompute = interleaved_medians(
        {p: recompute_sampler(model, p) for p in positions}, max(1, args.repeats // 2)
    )
    emit(f"{'position':>9} {'cached ms/token':>16} {'recompute ms/token':>19} {'speed-up':>9}")
    for p in positions:
        emit(
            f"{p:>9} {cached[p] * 1e3:>16.2f} {recompute[p] * 1e3:>19.1f} "
            f"{recompute[p] / cached[p]:>8.1f}x"
        )
    first, last = positions[0], positions[-1]
    flatness = cached[last] / cached[first]
    emit(f"cached flatness: position {last} / position {first} = {flatness:.2f}x")
    if (first, last) == (64, 1024):
        met = recompute[1024] / cached[1024] >= 10 and flatness <= 1.5
        emit(f"targets (>= 10x at 1024, flatness <= 1.5x): {'met' if met else 'MISSED'}")


def control_steps_per_second(model: GatoModel, rows: int, steps: int, device) -> float:
    """Steady-state control steps/s: each step appends a 30-token observation (with the
    separator) to every row and decodes 6 action tokens, in a full, sliding 1024-token window."""
    layout = model.config.layout
    timestep = OBSERVATION_TOKENS + 1 + ACTION_TOKENS
    context = model.config.context_length
    decoder = KVCacheDecoder(model, num_rows=rows, context=context)
    all_rows = list(range(rows))
    decoder.append(all_rows, make_timesteps(layout, context - timestep, rows))  # a full prompt
    observation = make_timesteps(layout, OBSERVATION_TOKENS + 1, rows, seed=1)
    action_ranges = [layout.value_range()] * ACTION_TOKENS

    def step() -> None:
        decoder.append(all_rows, observation)
        decoder.decode_action_tokens(all_rows, action_ranges)

    for _ in range(3):  # warm-up (kernel selection, allocator)
        step()
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return steps / (time.perf_counter() - start)


def bench_control(args, emit) -> None:
    device = torch.device(args.control_device)
    if device.type == "cuda" and not torch.cuda.is_available():
        emit(
            f"GPU: skipped, CUDA is not available here (torch {torch.__version__}); on a GPU "
            f"machine this reports {args.control_preset} control steps/s at batch 1 and "
            "env-steps/s at batch 64"
        )
        return
    torch.manual_seed(0)
    model = GatoModel(get_preset(args.control_preset, dropout=0.0)).to(device).eval()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    precision = "bf16 autocast" if device.type == "cuda" else "float32"
    emit(f"{name}: {args.control_preset}, {precision}, 36-token timestep with 6 action tokens")
    single = control_steps_per_second(model, 1, args.control_steps, device)
    emit(f"  batch 1:  {single:8.1f} control steps/s (target >= 200)")
    batched = control_steps_per_second(model, args.control_batch, args.control_steps, device)
    emit(f"  batch {args.control_batch}: {batched * args.control_batch:8.1f} env-steps/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--preset", default="gato-79m", help="CPU latency model")
    parser.add_argument("--positions", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--tokens", type=int, default=6, help="action tokens per cached sample")
    parser.add_argument("--repeats", type=int, default=5, help="samples per measurement")
    parser.add_argument("--control-device", default="cuda", help="device of the control part")
    parser.add_argument("--control-preset", default="gato-1.18b")
    parser.add_argument("--control-batch", type=int, default=64)
    parser.add_argument("--control-steps", type=int, default=50)
    parser.add_argument("--skip-cpu", action="store_true", help="only the control part")
    parser.add_argument("--save", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    lines: list[str] = []

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    emit(
        f"bench_decode (torch {torch.__version__}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {load}; medians of {args.repeats} samples)"
    )
    if not args.skip_cpu:
        bench_cpu(args, emit)
    bench_control(args, emit)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
