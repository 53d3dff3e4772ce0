"""Tokenization throughput on one core: Atari frames, DMC vectors, BabyAI missions.

Run: `python benchmarks/bench_tokenizer.py` (nox -s bench runs it too). Targets from issue 3:
>= 5,000 Atari-size frames/s and >= 50,000 DMC-size timesteps/s. Each case is timed for about a
second, three times; the best rate is reported (the others only add noise from a shared machine).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy loads its BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import platform
import tempfile
import time
from collections.abc import Callable

import numpy as np
from gymnasium import spaces

from gato_eval.tokenizer.layout import PAPER_LAYOUT, TokenLayout
from gato_eval.tokenizer.text import train_text_tokenizer
from gato_eval.tokenizer.timestep import TimestepTokenizer

ATARI_TARGET = 5_000  # frames/s
DMC_TARGET = 50_000  # timesteps/s


def measure(run: Callable[[], object], items: int, seconds: float = 1.0, repeats: int = 3) -> float:
    """Best items/s over `repeats` timings of about `seconds` each."""
    run()  # warm caches (text memo, allocator)
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, calls * items / elapsed)
    return best


def atari_cases(rng: np.random.Generator) -> list[tuple[str, float, str, int]]:
    space = spaces.Dict({"image": spaces.Box(0, 255, (80, 64, 3), np.uint8)})
    tokenizer = TimestepTokenizer(space, spaces.Discrete(18), PAPER_LAYOUT)
    live = {"image": rng.integers(0, 256, (64, 80, 64, 3), dtype=np.uint8)}
    steps = 500
    episode = {"image": rng.integers(0, 256, (steps + 1, 80, 64, 3), dtype=np.uint8)}
    actions = rng.integers(0, 18, steps)
    return [
        (
            "atari 80x64x3 frame, live batch of 64",
            measure(lambda: tokenizer.encode_observations(live), 64),
            "frames/s",
            ATARI_TARGET,
        ),
        (
            "atari 80x64x3 frame, episode of 500 steps",
            measure(lambda: tokenizer.encode_episode(episode, actions), steps),
            "frames/s",
            ATARI_TARGET,
        ),
    ]


def dmc_cases(rng: np.random.Generator) -> list[tuple[str, float, str, int]]:
    space = spaces.Dict({"continuous": spaces.Box(-np.inf, np.inf, (5,), np.float32)})
    tokenizer = TimestepTokenizer(space, spaces.Box(-1, 1, (1,), np.float32), PAPER_LAYOUT)
    live = {"continuous": rng.normal(size=(64, 5)).astype(np.float32)}
    single = {"continuous": live["continuous"][:1]}
    steps = 1000
    episode = {"continuous": rng.normal(size=(steps + 1, 5)).astype(np.float32)}
    actions = rng.uniform(-1, 1, (steps, 1)).astype(np.float32)
    ids = tokenizer.encode_actions(actions[:64])
    return [
        (
            "dmc 5-d obs + 1-d action, episode of 1000 steps",
            measure(lambda: tokenizer.encode_episode(episode, actions), steps),
            "timesteps/s",
            DMC_TARGET,
        ),
        (
            "dmc 5-d obs, live batch of 64",
            measure(lambda: tokenizer.encode_observations(live), 64),
            "timesteps/s",
            DMC_TARGET,
        ),
        (
            "dmc 5-d obs, live batch of 1 (per-call overhead)",
            measure(lambda: tokenizer.encode_observations(single), 1),
            "timesteps/s",
            0,
        ),
        (
            "dmc 1-d action decode, batch of 64",
            measure(lambda: tokenizer.decode_actions(ids), 64),
            "actions/s",
            0,
        ),
    ]


def babyai_cases(rng: np.random.Generator) -> list[tuple[str, float, str, int]]:
    missions = [f"go to the {c} {o}" for c in ("red", "green", "blue") for o in ("ball", "key")]
    with tempfile.TemporaryDirectory() as folder:
        text = train_text_tokenizer(missions, 64, f"{folder}/m.model", model_type="bpe")
    space = spaces.Dict(
        {
            "text": spaces.Text(100),
            "discrete": spaces.Box(0, 1023, (147,), np.int64),  # 7x7x3 grid, flattened
        }
    )
    tokenizer = TimestepTokenizer(space, spaces.Discrete(7), TokenLayout.for_text_vocab(64), text)
    steps = 64
    episode = {
        "text": [missions[0]] * (steps + 1),
        "discrete": rng.integers(0, 11, (steps + 1, 147)),
    }
    live = {
        "text": [missions[i % 6] for i in range(50)],
        "discrete": rng.integers(0, 11, (50, 147)),
    }
    actions = rng.integers(0, 7, steps)
    return [
        (
            "babyai mission + 147 discrete, episode of 64 steps",
            measure(lambda: tokenizer.encode_episode(episode, actions), steps),
            "timesteps/s",
            0,
        ),
        (
            "babyai mission + 147 discrete, live batch of 50",
            measure(lambda: tokenizer.encode_observations(live), 50),
            "timesteps/s",
            0,
        ),
    ]


def main() -> None:
    try:
        import torch  # only to pin its threads if something imported it

        torch.set_num_threads(1)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    print("gato-eval tokenizer throughput, one thread")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(f"{'case':<52} {'rate':>12} {'unit':<12} {'target':>8}  verdict")
    failed = False
    for name, rate, unit, target in atari_cases(rng) + dmc_cases(rng) + babyai_cases(rng):
        verdict = "-" if not target else ("ok" if rate >= target else "BELOW TARGET")
        failed |= bool(target) and rate < target
        target_text = f"{target:,}" if target else ""
        print(f"{name:<52} {rate:>12,.0f} {unit:<12} {target_text:>8}  {verdict}")
    print("all targets met" if not failed else "some targets missed")


if __name__ == "__main__":
    main()
