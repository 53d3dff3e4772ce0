"""Wall time of a fine-tuning ablation grid with `--workers 1` against `--workers 2`, side by side.

A toy grid (held-out cartpole balance; pretrained-on-swing-up-sparse `same-domain` and scratch;
2 demonstration counts x 2 seeds: 8 cells and 1 pretraining, a few hundred steps each, short
evaluations) runs through the real CLI in fresh results directories, alternating the two
settings `--repeats` times so that the machine's noise hits both alike. Its data sets are
collected once up front (a warm-up run), so the timed runs measure pretraining, fine-tuning
and evaluation only. Prints each run's wall time and the speed-up's range, and checks that both
settings produced the same returns in every cell.

Target (issue 21): two workers on a 2-core machine finish the grid in well under the time of
one (the whole cpu grid in about half the hours).

    MUJOCO_GL=egl .venv/bin/python benchmarks/ablation_workers.py [--repeats 2] [--save FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASK = "dmc-cartpole-balance"
GRID = {
    "format": "gato-eval-ablation-grid",
    "version": 1,
    "name": "bench-workers",
    "tasks": [TASK],
    "variants": ["same-domain", "scratch"],
    "demonstrations": [2, 4],
    "seeds": [0, 1],
    "heldout_data": {TASK: {"episodes": 6, "noise": 0.3, "best": 4}},
    "pretraining_data": [{"task": "dmc-cartpole-swingup-sparse", "episodes": 4, "noise": 0.3}],
    "collection_seed": 0,
    "pretraining": {
        "preset": "gato-tiny",
        "steps": 150,
        "batch_size": 4,
        "lr": 1e-3,
        "context_length": 128,
        "text_characters": 20_000,
        "caption_examples": 100,
    },
    "finetuning": {"steps": 150, "lr": 5e-4, "batch_size": 4},
    "evaluation": {"episodes": 2, "envs": 2, "seed": 1000, "max_episode_steps": {"dmc": 200}},
}


def run_grid(grid: Path, out: Path, workers: int, env: dict) -> float:
    """Seconds the real CLI takes to run the whole grid into `out`."""
    command = [sys.executable, "-m", "gato_eval", "finetune-ablation", str(grid), "--out"]
    command += [str(out), "--device", "cpu", "--threads", "1", "--workers", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"workers={workers} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def returns_of(out: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]
    return {f"{r['variant']} n={r['n_demos']} seed={r['seed']}": r["mean_return"] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--save", type=Path, help="also write the report to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch:
        root = Path(scratch)
        grid = root / "grid.json"
        grid.write_text(json.dumps(GRID))
        env = {**os.environ, "GATO_EVAL_HOME": str(root / "home"), "OMP_NUM_THREADS": "1"}
        env.setdefault("MUJOCO_GL", "egl")
        warm = [sys.executable, "-m", "gato_eval", "finetune-ablation", str(grid), "--out"]
        warm += [str(root / "warm-up"), "--device", "cpu", "--threads", "1", "--max-cells", "1"]
        subprocess.run(warm, env=env, capture_output=True, check=True)  # collects the data sets

        walls: dict[int, list[float]] = {1: [], 2: []}
        returns: dict[int, dict[str, float]] = {}
        for repeat in range(args.repeats):
            order = (1, 2) if repeat % 2 == 0 else (2, 1)  # alternate who runs first
            for workers in order:
                out = root / f"workers{workers}-repeat{repeat}"
                walls[workers].append(run_grid(grid, out, workers, env))
                returns.setdefault(workers, returns_of(out))
                wall = walls[workers][-1]
                print(f"repeat {repeat}: --workers {workers}: {wall:.1f} s", flush=True)

    ratios = [one / two for one, two in zip(walls[1], walls[2], strict=True)]
    same = returns[1] == returns[2]
    lines = [
        f"ablation_workers: {len(returns[1])} cells + 1 pretraining, {os.cpu_count()} cores, "
        f"{args.repeats} repeats (alternating)",
        f"  --workers 1: {', '.join(f'{w:.1f}' for w in walls[1])} s",
        f"  --workers 2: {', '.join(f'{w:.1f}' for w in walls[2])} s",
        f"  speed-up (workers 1 / workers 2, per repeat): {min(ratios):.2f}-{max(ratios):.2f}x",
        f"  same returns in every cell: {'yes' if same else 'NO'}",
    ]
    report = "\n".join(lines)
    print(report)
    if args.save:
        args.save.write_text(report + "\n")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
