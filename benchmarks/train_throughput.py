"""Does packing keep up with training? Positions/s of each data source vs a training step.

    python benchmarks/train_throughput.py [--context 512] [--batch 8] [--preset gato-tiny]

Collects a few real episodes per family (random actions through the rollout engine, in
seconds), prepares them as `gato-eval train` does, then measures side by side, on one thread:
- packing: positions per second of `SequenceSampler.sample_batch` for each source alone;
- training: tokens per second of one optimizer step of the preset (forward, backward, AdamW).
Packing is single-threaded numpy; the ratio says how many times faster it is than the model.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np


class RandomPolicy:
    def start(self, task, envs):
        self.space = envs[0].action_space
        self.rng = np.random.default_rng(0)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--preset", default="gato-tiny")
    args = parser.parse_args()
    os.environ.setdefault("GATO_EVAL_HOME", tempfile.mkdtemp(prefix="gato-bench-"))

    import torch

    from gato_eval.data.mixtures import DataCatalog, resolve_mixture
    from gato_eval.model.config import get_preset
    from gato_eval.model.loss import gato_loss
    from gato_eval.model.transformer import GatoModel
    from gato_eval.training.data import DataOptions, prepare_training_data
    from gato_eval.training.optim import make_adamw

    torch.set_num_threads(1)
    config = get_preset(args.preset, context_length=args.context)
    episodes = {
        "atari-pong": collect("atari-pong", 4, 400),
        "dmc-cartpole-balance": collect("dmc-cartpole-balance", 4, 1000),
        "metaworld-reach": collect("metaworld-reach", 4, 500),
        "babyai-go-to-red-ball": collect("babyai-go-to-red-ball", 40, 30),
    }
    catalog = DataCatalog(
        families={task: task.split("-")[0] for task in episodes},
        with_data=frozenset(episodes),
        heldout=frozenset(),
    )
    work = Path(tempfile.mkdtemp(prefix="gato-bench-"))
    options = DataOptions(context_length=args.context)
    batch = None
    print(f"packing, {args.batch} x {args.context} positions per batch, one thread")
    for source in [*episodes, "text", "captions", "all"]:
        mixture = resolve_mixture(source, catalog)
        data = prepare_training_data(
            mixture, config.layout, options, work / "text.model", episodes_by_task=episodes
        )
        data.train.sample_batch(0, args.batch)
        started, rounds = time.perf_counter(), 20
        for step in range(rounds):
            batch, _ = data.train.sample_batch(step, args.batch)
        seconds = (time.perf_counter() - started) / rounds
        rate = args.batch * args.context / seconds
        print(f"  {source:24s} {seconds * 1e3:7.1f} ms/batch {rate:>12,.0f} positions/s")
    packing = args.batch * args.context / seconds  # the `all` mixture

    model = GatoModel(config).train()
    optimizer = make_adamw(model, 1e-3)
    tensors = batch.to_torch()
    for step in range(4):
        if step == 1:
            started = time.perf_counter()
        loss = gato_loss(model(tensors), tensors)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = (time.perf_counter() - started) / 3
    training = int(batch.valid.sum()) / seconds
    print(f"training {config.name}: {seconds:.2f} s/step, {training:,.0f} tokens/s")
    print(f"packing the `all` mixture is {packing / training:,.0f}x faster than training on it")


if __name__ == "__main__":
    main()
