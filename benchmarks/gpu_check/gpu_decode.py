"""Step (2) of the GPU check: bench_decode's control loop on the device, for each preset at
batch 1 and at the largest batch that fits.

It reuses benchmarks/bench_decode.py's timestep layout and its steady-state control loop
(`control_steps_per_second`: a full, sliding 1024-token window, a 30-token observation appended
and 6 action tokens decoded per step), and adds what a GPU reading needs: per-token latency
timed with device synchronisation, peak device memory, and a doubling search for the largest
batch (the first allocation failure ends it). Random weights: speed does not depend on them.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: bench_decode

from bench_decode import ACTION_TOKENS, control_steps_per_second, make_timesteps

from gato_eval.core.errors import GatoEvalError
from gato_eval.model.config import count_parameters, get_preset
from gato_eval.model.decoding import KVCacheDecoder
from gato_eval.model.transformer import GatoModel


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    """Peak device memory since the last `reset_peak` (None on CPU: not tracked there)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def token_latency_ms(model: GatoModel, device: torch.device, repeats: int) -> float:
    """Median ms per action token at batch 1, context full (1024 tokens, sliding): each sample
    decodes ACTION_TOKENS tokens and the append that brings the last one in, synchronised."""
    layout = model.config.layout
    context = model.config.context_length
    decoder = KVCacheDecoder(model, num_rows=1, context=context)
    decoder.append([0], make_timesteps(layout, context - ACTION_TOKENS - 1, rows=1))
    ranges = [layout.value_range()] * ACTION_TOKENS
    one = make_timesteps(layout, 1, rows=1)
    samples = []
    for i in range(repeats + 2):  # two warm-up samples
        synchronize(device)
        start = time.perf_counter()
        decoder.decode_action_tokens([0], ranges)
        decoder.append([0], one, logits=False)
        synchronize(device)
        if i >= 2:
            samples.append((time.perf_counter() - start) / ACTION_TOKENS)
    samples.sort()
    return samples[len(samples) // 2] * 1e3


def largest_batch(model, device, plan, emit) -> dict[str, Any]:
    """Double the batch from plan.first_batch until an allocation fails or plan.max_batch;
    return the largest that ran, with its env-steps/s and peak memory."""
    best: dict[str, Any] = {}
    batch = plan.first_batch
    while batch <= plan.max_batch:
        reset_peak(device)
        try:
            hz = control_steps_per_second(model, batch, plan.batch_steps, device)
        except (torch.OutOfMemoryError, GatoEvalError, RuntimeError) as err:
            if not isinstance(err, torch.OutOfMemoryError | GatoEvalError) and (
                "out of memory" not in str(err)  # cuBLAS and friends say it in a RuntimeError
            ):
                raise
            emit(f"  batch {batch}: does not fit ({type(err).__name__})")
            break
        finally:
            gc.collect()
        best = {
            "batch": batch,
            "env_steps_per_s": hz * batch,
            "control_hz": hz,
            "peak_gib": peak_gib(device),
        }
        emit(f"  batch {batch}: {hz * batch:,.0f} env-steps/s, peak {_gib(best['peak_gib'])}")
        batch *= 2
    reset_peak(device)
    return best


def bench_preset(name: str, device: torch.device, plan, emit) -> dict[str, Any]:
    """One preset: per-token latency and control Hz at batch 1, then the largest batch."""
    torch.manual_seed(0)
    config = get_preset(name, dropout=0.0)
    reset_peak(device)
    with device:  # built where it runs: initialising 1.28B weights on a CPU takes a while
        model = GatoModel(config).eval()
    latency = token_latency_ms(model, device, repeats=max(3, plan.steps // 5))
    hz = control_steps_per_second(model, 1, plan.steps, device)
    row = {
        "preset": name,
        "parameters": count_parameters(config),
        "token_latency_ms": latency,
        "control_hz_batch1": hz,
        "peak_gib_batch1": peak_gib(device),
    }
    emit(
        f"{name}: {latency:.2f} ms/token, {hz:.1f} control steps/s at batch 1 "
        f"({plan.action_tokens} action tokens), peak {_gib(row['peak_gib_batch1'])}"
    )
    row["largest"] = largest_batch(model, device, plan, emit)
    del model
    reset_peak(device)
    return row


def run_decode(plan, device: torch.device, emit, partial=lambda result: None) -> dict[str, Any]:
    """Every preset of plan.decode (`partial` gets the rows after each); the target line for
    the last (largest) one."""
    decode = plan.decode
    precision = "bf16 autocast, bf16 KV cache" if device.type == "cuda" else "float32"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    emit(f"decode on {name} ({precision}), torch {torch.__version__}")
    rows: list[dict[str, Any]] = []
    for preset in decode.presets:
        rows.append(bench_preset(preset, device, decode, emit))
        partial({"device": name, "precision": precision, "presets": rows, "target_met": None})
    last = rows[-1]
    met = last["control_hz_batch1"] >= decode.target_hz
    emit(
        f"target: {last['preset']} batch 1 >= {decode.target_hz:.0f} Hz: "
        f"{'met' if met else 'MISSED'} ({last['control_hz_batch1']:.1f} Hz)"
    )
    return {"device": name, "precision": precision, "presets": rows, "target_met": met}


def _gib(value: float | None) -> str:
    return "n/a on CPU" if value is None else f"{value:.2f} GiB"
